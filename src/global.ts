// The script-tag entry: bundled with socket.io-client, mitt and zod into one minified IIFE that
// rollup exposes as `window.LiveUpdates`.
export { createLiveUpdates, RESYNC_EVENT } from './index';
