// One process of restart-storm clients: `count` live-updates instances (dist/index.js) or plain
// socket.io-clients, each refetching a resource from the app API after every reconnect.
// Driven by bench/storm.mjs over IPC. A client is fresh once a refetch completes, or, with the
// bridge's change log, once it was handed the last change published while it was away (`watch`).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import { serveRequests, wallNow, distUrl } from './lib/util.mjs';

const { createLiveUpdates } = await import(distUrl('index.js'));

const clients = [];
let fresh = []; // per client: wall time it last became fresh (a refetch completed, or the watched change arrived)
let lastConnect = []; // per client: wall time of its last (re)connection
let latency = []; // per client: ms from its last connection to fresh again, first time after `watch`
let lastIds = []; // per client: the highest change id its handler received
let watched = { id: Infinity, at: Infinity };
const markFresh = (index) => {
  const now = wallNow();
  if (latency[index] === null && now > watched.at) latency[index] = now - lastConnect[index];
  fresh[index] = now;
};
/** What the clients went through, counted by kind (`refetch:<reason>`, `error:<code>`, `state:<state>/<reason>`), for the log. */
const events = new Map();
const count = (key) => events.set(key, (events.get(key) ?? 0) + 1);
// Thousands of clients on 2 cores stall this process: its timers then fire late and together,
// and refetches reach the API in bursts. The lag says how much of a burst is the simulation's.
const lag = monitorEventLoopDelay({ resolution: 20 });
lag.enable();

/** The app's refetch: GET the resource from its API. */
async function refetch(apiUrl, index, signal) {
  const response = await fetch(apiUrl, { signal });
  await response.arrayBuffer();
  markFresh(index);
}

const onChange = (index, change) => {
  lastIds[index] = Math.max(lastIds[index], change.id);
  if (change.id >= watched.id) markFresh(index);
};

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
  const ready = live.subscribe('books', (change) => onChange(index, change), { refetch: ({ signal, reason, attempt }) => (count(`refetch:${reason}${attempt > 1 ? ' (retry)' : ''}`), refetch(apiUrl, index, signal)) }).ready.then(() => void (loaded = true));
  live.onError((error) => count(`error:${error.code}`));
  live.onStateChange((state, info) => {
    count(`state:${state}/${info.reason}`);
    if (state === 'connected' && info.reason !== 'replayed') lastConnect[index] = wallNow();
  });
  return { connected: () => live.state === 'connected' && loaded, ready, close: () => live.close() };
}

function startPlain(index, { url, apiUrl }) {
  const socket = io(url, { transports: ['websocket'], forceNew: true });
  let connectedBefore = false;
  const ready = new Promise((resolve) => socket.once('connect', resolve));
  // As socket.io's docs say: after the server's own disconnect, reconnect by hand.
  socket.on('disconnect', (reason) => reason === 'io server disconnect' && socket.connect());
  socket.on('rt-change', (change) => onChange(index, change));
  socket.on('connect', () => {
    lastConnect[index] = wallNow();
    if (connectedBefore) refetch(apiUrl, index).catch(() => {});
    connectedBefore = true;
  });
  return { connected: () => socket.connected, ready, close: () => socket.disconnect() };
}

serveRequests({
  /** Starts `count` clients, `batch` at a time (each batch connected and loaded before the next): thousands at once would time out their handshakes. */
  async start({ mode, count, url, apiUrl, spreadMs, batch = count }) {
    fresh = new Array(count).fill(0);
    lastConnect = new Array(count).fill(0);
    latency = new Array(count).fill(null);
    lastIds = new Array(count).fill(-1);
    for (let i = 0; i < count; i += batch) {
      const started = [];
      for (let j = i; j < Math.min(count, i + batch); j++) started.push((mode === 'ours' ? startOurs : startPlain)(j, { url, apiUrl, spreadMs }));
      clients.push(...started);
      if (batch < count) await Promise.all(started.map((c) => c.ready));
    }
    return count;
  },
  status: () => ({ connected: clients.filter((c) => c.connected()).length, fresh, minLastId: Math.min(...lastIds) }),
  /** From now on, receiving change `id` (or a later one) makes a client fresh. */
  watch({ id }) {
    watched = { id, at: wallNow() };
    return true;
  },
  /** Per client: ms from its last connection to fresh, the first time after `watch` (null: not yet). */
  latencies: () => latency,
  /** The event counts since the last call. */
  events() {
    const counted = Object.fromEntries(events);
    events.clear();
    const stalls = { lagMaxMs: Math.round(lag.max / 1e6), lagP99Ms: Math.round(lag.percentile(99) / 1e6) };
    lag.reset();
    return { counted, stalls };
  },
  stop() {
    clients.splice(0).forEach((c) => c.close());
    return true;
  },
});
