// Runs in its own process with --expose-gc (bench/memory.mjs starts it): heap bytes per
// subscription, and whether heap and listener counts return to where they were after 100,000
// subscribe/unsubscribe cycles and 100 reconnects.
import { io } from 'socket.io-client';
import { serveRequests, sleep, until, distUrl } from './lib/util.mjs';

const { createLiveUpdates } = await import(distUrl('index.js'));

const heap = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
};

/** Listeners registered on socket.io-client's emitters (component-emitter keeps them in _callbacks). */
const listenerCount = (socket) =>
  [socket, socket.io, socket.io.engine].reduce((sum, emitter) => sum + Object.values(emitter?._callbacks ?? {}).reduce((n, list) => n + list.length, 0), 0);

const connect = async (url) => {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 10, reconnectionDelayMax: 50 });
  await until(() => socket.connected, 10_000, 'memory socket connected');
  return socket;
};

async function perSubscription(url, n) {
  const resources = 1000;
  const socket = await connect(url);
  const live = createLiveUpdates({ socket, environment: { signals: () => () => {} } });
  let before = await heap();
  let offs = [];
  for (let i = 0; i < n; i++) offs.push(live.subscribe(`res-${i % resources}`, () => {}, { refetch: () => {} }));
  const ours = ((await heap()) - before) / n;
  offs.forEach((off) => off());
  offs = [];
  // The same without a refetch: what the router alone keeps (the refetch adds an AbortController).
  before = await heap();
  for (let i = 0; i < n; i++) offs.push(live.subscribe(`res-${i % resources}`, () => {}));
  const oursNoRefetch = ((await heap()) - before) / n;
  offs.forEach((off) => off());
  offs = [];
  live.close();
  // Baseline: what a hand-written app keeps per subscription, one socket.on listener each.
  before = await heap();
  const handlers = [];
  for (let i = 0; i < n; i++) {
    const handler = () => {};
    handlers.push(handler);
    socket.on('rt-change', handler);
  }
  const raw = ((await heap()) - before) / n;
  handlers.forEach((handler) => socket.off('rt-change', handler));
  socket.disconnect();
  return { n, ours, oursNoRefetch, raw };
}

/** Drops the WebSocket's TCP connection (close code 1006, a real transport loss) `n` times. */
async function reconnect(socket, n, isBack, beforeDrop = () => {}) {
  let done = 0;
  for (let i = 0; i < n; i++) {
    beforeDrop();
    const back = isBack();
    socket.io.engine.transport.ws.terminate();
    await until(back, 10_000, `reconnect ${i}`, 2);
    done++;
  }
  return done;
}

async function leakCheck(url, { cycles, reconnects, settleMs }) {
  const socket = await connect(url);
  let refetches = 0;
  // Drops come back to back; a connection ended right after it was accepted counts as a kick
  // (backoff, src/reconnect-policy.ts). These are transport losses, not kicks: the clock is moved
  // past the kick window before each one instead of waiting it out.
  let skipped = 0;
  const clock = { now: () => Date.now() + skipped, setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle) };
  const pastKickWindow = () => void (skipped += 2000);
  const live = createLiveUpdates({ socket, refetchSpreadMs: 10, environment: { clock, signals: () => () => {} } });
  await live.subscribe('books', () => {}, { refetch: () => void refetches++ }).ready;
  // Back once reconnected and caught up: by a refetch, or (the bridge's change log) by replay.
  let caughtUp = 0;
  live.onStateChange((_, info) => info.reason === 'replayed' && caughtUp++);
  const isBack = () => {
    const target = refetches + caughtUp + 1;
    return () => refetches + caughtUp >= target && live.state === 'connected';
  };
  // First-use allocations (JIT, Map growth, socket.io-client internals) belong to the baseline.
  for (let i = 0; i < 1000; i++) live.subscribe(`res-${i % 100}`, () => {}, { refetch: () => {} })();
  await reconnect(socket, 20, isBack, pastKickWindow);
  const heapBefore = await heap();
  const listenersBefore = listenerCount(socket);
  for (let i = 0; i < cycles; i++) live.subscribe(`res-${i % 1000}`, () => {}, { refetch: () => {} })();
  const done = await reconnect(socket, reconnects, isBack, pastKickWindow);
  // Let in-flight work finish first: subscription acks wait up to 10 s for a bridge's answer.
  await sleep(settleMs);
  const heapAfter = await heap();
  const listenersAfter = listenerCount(socket);
  live.close();
  socket.disconnect();

  // The same reconnects on a plain socket.io-client: its own heap growth is the yardstick.
  const plain = await connect(url);
  let connects = 0;
  plain.on('connect', () => connects++);
  const plainBack = () => {
    const target = connects + 1;
    return () => connects >= target && plain.connected;
  };
  await reconnect(plain, 20, plainBack);
  const plainBefore = await heap();
  await reconnect(plain, reconnects, plainBack);
  await sleep(settleMs);
  const plainAfter = await heap();
  plain.disconnect();
  return { cycles, reconnects: done, refetches, heapBefore, heapAfter, listenersBefore, listenersAfter, plainGrowth: plainAfter - plainBefore };
}

serveRequests({
  perSubscription: ({ url, n }) => perSubscription(url, n),
  leakCheck: ({ url, cycles, reconnects, settleMs }) => leakCheck(url, { cycles, reconnects, settleMs }),
});
