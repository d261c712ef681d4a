// The server under bench/capacity.mjs, in its own process (forked with --expose-gc):
// `ours` is the bridge (createBridge from live-updates-bridge on Redis); `plain` is a plain socket.io
// server relaying the same Redis channel with io.to(resource).emit, the same heartbeat, clients
// joining the room named in their handshake. Both report, over IPC, their own event-loop lag
// (perf_hooks.monitorEventLoopDelay) and heap after a full GC.
// argv: <ours|plain> <redisUrl> [keep-requests]: `keep-requests` holds every connection's first
// HTTP request, as socket.io does unless it is dropped (the "before" of dropping it).
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { bridgeDistUrl, serveRequests } from './lib/util.mjs';

const [mode, redisUrl, keep] = process.argv.slice(2);
const { bridgeDefaults, createBridge, createSilentLogger } = await import(bridgeDistUrl('index.js'));

async function startPlain() {
  const httpServer = http.createServer();
  const { pingInterval, pingTimeout, changeChannel, changeEvent } = bridgeDefaults;
  const io = new Server(httpServer, { serveClient: false, pingInterval, pingTimeout });
  io.on('connection', (socket) => {
    const room = socket.handshake.auth?.room;
    if (typeof room === 'string') socket.join(room);
  });
  const subscriber = createClient({ url: redisUrl });
  await subscriber.connect();
  await subscriber.subscribe(changeChannel, (message) => {
    const change = JSON.parse(message);
    io.to(change.resource).emit(changeEvent, change);
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return { io, port: httpServer.address().port };
}

async function startOurs() {
  const bridge = await createBridge({ port: 0, redisUrl, logger: createSilentLogger() });
  return { io: bridge.io, port: bridge.port };
}

const { io, port } = mode === 'plain' ? await startPlain() : await startOurs();
const kept = [];
if (keep === 'keep-requests') io.engine.on('connection', (rawSocket) => kept.push(rawSocket.request));

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const ms = (ns) => Math.round(ns / 1e4) / 100;

async function heapAfterGc() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

serveRequests({
  port: () => port,
  clients: () => io.engine.clientsCount,
  heap: () => heapAfterGc().then((heapUsed) => ({ heapUsed, clients: io.engine.clientsCount })),
  /** The event-loop delay over the next `windowMs` (a measurement window: a timed wait by design). */
  lag: ({ windowMs }) =>
    new Promise((resolve) => {
      lag.reset();
      setTimeout(() => resolve({ p50: ms(lag.percentile(50)), p99: ms(lag.percentile(99)), max: ms(lag.max), mean: ms(lag.mean) }), windowMs);
    }),
});
