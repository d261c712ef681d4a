// 9. Clients per bridge process (issue 10): clients connect to one server process in steps of
// `step`, each subscribed to one resource (`perResource` clients per resource) and receiving
// about one change per second (Redis PUBLISH at clients / perResource changes per second, every
// resource in turn), until the server's own event-loop lag (p99 over a window) passes 100 ms.
// Ours: the bridge (createBridge, bench/capacity-server.mjs); baseline: a plain socket.io server
// relaying the same channel with io.to(room).emit. Heap per connection is the heap (after a full
// GC) over the empty server's, divided by the connections, at the highest count both reached;
// further passes keep every connection's first HTTP request (what socket.io keeps unless the
// bridge drops it), over WebSocket and over long-polling, to show what dropping it saves.
import path from 'node:path';
import { createClient } from 'redis';
import { bridgeDistUrl, forkWorker, raiseFdLimit, root, row } from './lib/util.mjs';

export const NAME = 'clients per bridge process';
const LAG_LIMIT_MS = 100;
/** Client processes; the server is the one measured, they only have to keep up. */
const WORKERS = 2;

/** Publishes `rate` changes per second, resources res-0 … res-(resources - 1) in turn; `set` changes both. */
async function startPublisher(redisUrl, channel) {
  const client = createClient({ url: redisUrl });
  await client.connect();
  let rate = 0;
  let resources = 1;
  let since = performance.now();
  let sent = 0;
  let total = 0;
  let next = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - since) * rate) / 1000) - sent;
    for (let i = 0; i < due; i++) {
      const resource = `res-${next++ % resources}`;
      void client.publish(channel, JSON.stringify({ resource, action: 'update', id: total, obj: { seq: total, title: `Book ${total}` } }));
      total++;
    }
    sent += Math.max(0, due);
  }, 10);
  return {
    set(newRate, newResources) {
      rate = newRate;
      resources = Math.max(1, newResources);
      since = performance.now();
      sent = 0;
    },
    published: () => total,
    async stop() {
      clearInterval(timer);
      await client.quit();
    },
  };
}

/**
 * One server kind ramped up: returns the steps (clients, lag, heap, deliveries per client per
 * second). `lagWindowMs` 0 skips the lag (a heap-only ramp, up to `max`).
 */
async function ramp({ mode, keepRequests = false, transport = 'websocket', redisUrl, channel, changeEvent, step, max, perResource, settleMs, lagWindowMs, log }) {
  const server = forkWorker(path.join(root, 'bench/capacity-server.mjs'), [mode, redisUrl, ...(keepRequests ? ['keep-requests'] : [])], ['--expose-gc']);
  const workers = Array.from({ length: WORKERS }, () => forkWorker(path.join(root, 'bench/capacity-worker.mjs')));
  const publisher = await startPublisher(redisUrl, channel);
  const steps = [];
  try {
    await server.ready;
    const fdLimit = raiseFdLimit(server.child.pid);
    workers.forEach((w) => raiseFdLimit(w.child.pid));
    // The server holds one descriptor per connection, and a few of its own.
    const cap = Math.min(max, Math.floor((fdLimit - 200) / step) * step);
    const port = await server.request({ type: 'port' });
    const empty = (await server.request({ type: 'heap' })).heapUsed;
    let clients = 0;
    const receivedNow = async () => (await Promise.all(workers.map((w) => w.request({ type: 'received' })))).reduce((a, b) => a + b, 0);
    while (clients < cap) {
      const add = Math.min(step, cap - clients);
      const per = Math.ceil(add / WORKERS);
      await Promise.all(workers.map((w, k) => w.request({ type: 'start', port, mode, transport, from: clients + k * per, count: Math.min(per, add - k * per), perResource, changeEvent }, 120_000)));
      clients += add;
      publisher.set(clients / perResource, Math.ceil(clients / perResource));
      const entry = { clients, fdLimit };
      if (lagWindowMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, settleMs)); // let the step's connections settle
        const before = await receivedNow();
        const t = performance.now();
        entry.lag = await server.request({ type: 'lag', windowMs: lagWindowMs });
        // The machine is shared: a window over the limit is measured once more before it counts.
        if (entry.lag.p99 > LAG_LIMIT_MS) entry.lag = { ...(await server.request({ type: 'lag', windowMs: lagWindowMs })), first: entry.lag };
        entry.deliveredPerClientPerS = Math.round(((await receivedNow()) - before) / clients / ((performance.now() - t) / 1000) * 100) / 100;
      }
      const { heapUsed, clients: seen } = await server.request({ type: 'heap' }, 60_000);
      entry.connected = seen;
      entry.heapPerConnection = Math.round((heapUsed - empty) / seen);
      steps.push(entry);
      log(`  ${mode}${keepRequests ? ' (requests kept)' : ''}${transport === 'polling' ? ' over long-polling' : ''}: ${clients} clients${entry.lag ? `, lag p99 ${entry.lag.p99} ms (max ${entry.lag.max}), ${entry.deliveredPerClientPerS} changes/s per client` : ''}, heap ${entry.heapPerConnection} B per connection`);
      if (entry.lag && entry.lag.p99 > LAG_LIMIT_MS) break;
    }
    return { mode, keepRequests, transport, cap, steps };
  } finally {
    await publisher.stop().catch(() => {});
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }, 20_000).catch(() => {})));
    await Promise.all(workers.map((w) => w.stop()));
    await server.stop();
  }
}

/** The highest count whose lag stayed within the limit, and whether the ramp stopped at its cap instead. */
function reached(result) {
  const within = result.steps.filter((s) => s.lag.p99 <= LAG_LIMIT_MS);
  const last = within.at(-1);
  return { clients: last?.clients ?? 0, capped: result.steps.at(-1)?.lag.p99 <= LAG_LIMIT_MS };
}

export async function run({ log = console.log, redisUrl, step = Number(process.env.CAPACITY_STEP ?? 3000), max = Number(process.env.CAPACITY_MAX ?? 30_000), perResource = 10, settleMs = 1000, lagWindowMs = 3000, pollingClients = 1000 } = {}) {
  if (!redisUrl) throw new Error('capacity needs Redis (bench/run.mjs starts one)');
  const { bridgeDefaults } = await import(bridgeDistUrl('index.js'));
  const common = { redisUrl, channel: bridgeDefaults.changeChannel, changeEvent: bridgeDefaults.changeEvent, step, max, perResource, settleMs, lagWindowMs, log };
  const ours = await ramp({ ...common, mode: 'ours' });
  const plain = await ramp({ ...common, mode: 'plain' });
  const o = reached(ours);
  const p = reached(plain);
  // Heap per connection at the highest count both reached, the same for the pass that keeps requests.
  const at = Math.max(step, Math.min(o.clients, p.clients));
  const heapAt = (result) => result.steps.find((s) => s.clients === at)?.heapPerConnection ?? null;
  const heapOnly = { ...common, mode: 'ours', lagWindowMs: 0 };
  const kept = await ramp({ ...heapOnly, keepRequests: true, step: at, max: at });
  // Dropping the request only frees it for connections opened by long-polling (server.ts says why).
  const pollingDropped = await ramp({ ...heapOnly, transport: 'polling', step: pollingClients, max: pollingClients });
  const pollingKept = await ramp({ ...heapOnly, transport: 'polling', keepRequests: true, step: pollingClients, max: pollingClients });
  const heapOf = (result) => result.steps.at(-1)?.heapPerConnection ?? null;
  const capNote = (r, result) => (r.capped ? ` (capped at ${result.cap}: open-file limit or CAPACITY_MAX)` : '');
  log(`  ${NAME}: ours ${o.clients}${capNote(o, ours)}, plain socket.io ${p.clients}${capNote(p, plain)}; heap per connection at ${at}: ours ${heapAt(ours)} B, requests kept ${heapOf(kept)} B, plain ${heapAt(plain)} B; over long-polling (${pollingClients}): ${heapOf(pollingDropped)} B, requests kept ${heapOf(pollingKept)} B`);
  return {
    rows: [
      row({ name: NAME, ours: o.clients, baseline: p.clients, unit: `clients (lag p99 ≤ ${LAG_LIMIT_MS} ms, 1 change/s each)`, goal: '(report)', met: null }),
      row({ name: `${NAME}: heap per connection at ${at}`, ours: heapAt(ours), baseline: heapAt(plain), unit: 'bytes', goal: '(report)', met: null }),
      row({ name: `${NAME}: heap per WebSocket connection at ${at}, first HTTP request dropped (baseline: kept)`, ours: heapAt(ours), baseline: heapOf(kept), unit: 'bytes', goal: '(report)', met: null }),
      row({ name: `${NAME}: heap per long-polling connection at ${pollingClients}, first HTTP request dropped (baseline: kept)`, ours: heapOf(pollingDropped), baseline: heapOf(pollingKept), unit: 'bytes', goal: '(report)', met: null }),
    ],
    detail: { lagLimitMs: LAG_LIMIT_MS, step, perResource, settleMs, lagWindowMs, heapAt: at, ours: { ...o, ...ours }, plain: { ...p, ...plain }, kept, pollingDropped, pollingKept },
  };
}
