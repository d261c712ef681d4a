// One process of restart-storm clients: `count` live-updates instances (dist/index.js) or plain
// socket.io-clients, each refetching a resource from the app API after every reconnect.
// Driven by bench/storm.mjs over IPC.
import { io } from 'socket.io-client';
import { serveRequests, wallNow, distUrl } from './lib/util.mjs';

const { createLiveUpdates } = await import(distUrl('index.js'));

const clients = [];
let fresh = []; // per client: wall time of the last completed refetch

/** The app's refetch: GET the resource from its API. */
async function refetch(apiUrl, index, signal) {
  const response = await fetch(apiUrl, { signal });
  await response.arrayBuffer();
  fresh[index] = wallNow();
}

function startOurs(index, { url, apiUrl, spreadMs }) {
  const live = createLiveUpdates({
    url,
    socketOptions: { transports: ['websocket'] },
    ...(spreadMs === undefined ? {} : { refetchSpreadMs: spreadMs }),
    // No wake detector: a busy benchmark process must not count as a sleeping laptop.
    environment: { signals: () => () => {} },
  });
  // Loaded once when live (as every page is at start): the storm counts only what the restart costs.
  let loaded = false;
  void live.subscribe('books', () => {}, { refetch: ({ signal }) => refetch(apiUrl, index, signal) }).ready.then(() => (loaded = true));
  return { connected: () => live.state === 'connected' && loaded, close: () => live.close() };
}

function startPlain(index, { url, apiUrl }) {
  const socket = io(url, { transports: ['websocket'], forceNew: true });
  let connectedBefore = false;
  // As socket.io's docs say: after the server's own disconnect, reconnect by hand.
  socket.on('disconnect', (reason) => reason === 'io server disconnect' && socket.connect());
  socket.on('connect', () => {
    if (connectedBefore) refetch(apiUrl, index).catch(() => {});
    connectedBefore = true;
  });
  return { connected: () => socket.connected, close: () => socket.disconnect() };
}

serveRequests({
  start({ mode, count, url, apiUrl, spreadMs }) {
    fresh = new Array(count).fill(0);
    for (let i = 0; i < count; i++) clients.push((mode === 'ours' ? startOurs : startPlain)(i, { url, apiUrl, spreadMs }));
    return count;
  },
  status: () => ({ connected: clients.filter((c) => c.connected()).length, fresh }),
  stop() {
    clients.splice(0).forEach((c) => c.close());
    return true;
  },
});
