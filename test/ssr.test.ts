// @vitest-environment node
// Importing the package on a server (SSR) must touch no browser global and start nothing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Browser globals read by the package's own code (dependencies' typeof guards are theirs) are
// recorded; so are timers and new globals.
const trap = `
const touched = [];
for (const name of ['window', 'document', 'location', 'navigator', 'self', 'addEventListener']) {
  Object.defineProperty(globalThis, name, { configurable: true, get() {
    if (/dist[\\/]index\\.c?js/.test(new Error().stack)) touched.push(name);
    return undefined;
  } });
}
const before = new Set(Object.getOwnPropertyNames(globalThis));
const timers = [];
for (const name of ['setTimeout', 'setInterval']) {
  const original = globalThis[name];
  globalThis[name] = (...args) => { timers.push(name); return original(...args); };
}
const report = (m) => {
  // zod keeps its config and schema registry on globalThis (shared across copies); that is zod's.
  const added = Object.getOwnPropertyNames(globalThis).filter((k) => !before.has(k) && !k.startsWith('__zod_'));
  console.log(JSON.stringify({ api: typeof m.createLiveUpdates, touched, timers, added }));
};
`;

describe('server-side import', () => {
  it.each([
    ['ESM', `${trap} const m = await import('./dist/index.js'); report(m);`],
    ['CJS', `${trap} const m = require('./dist/index.cjs'); report(m);`],
  ])('%s build imports without touching browser globals or starting timers', (kind, script) => {
    expect(existsSync('dist/index.js'), 'run `npm run build` first (npm test does)').toBe(true);
    const output = execFileSync(process.execPath, [kind === 'ESM' ? '--input-type=module' : '--input-type=commonjs', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual({ api: 'function', touched: [], timers: [], added: [] });
  });

  it('requires a url outside a browser instead of guessing', async () => {
    const { createLiveUpdates } = await import('../src/index');
    expect(() => createLiveUpdates()).toThrow(/url/);
  });
});
