// 5. Restart storm: 1,000 clients (4 processes × 250) on one bridge, the bridge restarted
// (graceful SIGTERM, and SIGKILL), and every refetch that reaches the app's API counted per
// 100 ms. Ours (live-updates, dist/index.js) with the bridge's defaults (refetch slots), and ours
// with slots off (what a plain socket.io server gives: the client's own random refetchSpreadMs),
// against plain socket.io-clients that reconnect after "io server disconnect" and refetch on
// every reconnect.
import http from 'node:http';
import path from 'node:path';
import { forkWorker, freePort, raiseFdLimit, root, startBridgeCli, until, wallNow, row } from './lib/util.mjs';

const BUCKET_MS = 100;

/** The app's API: answers every GET with `body` (JSON) and records when each request arrived. */
export function startApi({ body = '[]' } = {}) {
  let arrivals = [];
  const server = http.createServer((req, res) => {
    arrivals.push(wallNow());
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/books`,
        take: () => arrivals.splice(0),
        reset: () => (arrivals = []),
        close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
      }),
    ),
  );
}

/**
 * One scenario: start a bridge and the clients, restart the bridge, histogram the refetches.
 * Thousands of clients: `batch` per worker connect at a time, within `connectMs`; every process
 * gets the highest open-file limit it can have (bench/lib/util.mjs raiseFdLimit); `pollMs` apart,
 * the workers are asked who is fresh (each client keeps its own time, so this only bounds the wait).
 * `missed` ({ send(id), count }): changes published while the bridge is down — id 0 once every
 * client is connected (so each has seen one), ids 1…count after the old process exited; a client
 * is then fresh once it refetched or was handed change `count`.
 */
export async function scenario({ mode, variant = null, spreadMs, signal, clients, processes, api, log, batch, connectMs = 30_000, freshMs = 45_000, pollMs = 100, bridgeArgs = [], bridgeEnv = {}, missed = null, label: named }) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['--port', String(port), ...bridgeArgs, ...(variant === 'spread' ? ['--refetch-rate', '0'] : [])];
  const startBridge = async () => {
    const started = await startBridgeCli(args, { env: bridgeEnv });
    raiseFdLimit(started.child.pid);
    return started;
  };
  let bridge = await startBridge();
  const perProcess = Math.ceil(clients / processes);
  const workers = Array.from({ length: processes }, () => forkWorker(path.join(root, 'bench/storm-worker.mjs')));
  workers.forEach((w) => raiseFdLimit(w.child.pid));
  const startedAt = wallNow();
  try {
    await Promise.all(workers.map((w) => w.request({ type: 'start', mode, count: perProcess, url, apiUrl: api.url, spreadMs, batch }, connectMs)));
    const statuses = () => Promise.all(workers.map((w) => w.request({ type: 'status' })));
    await until(async () => (await statuses()).every((s) => s.connected === perProcess), connectMs, 'all clients connected', 100);
    const connectedAfterMs = Math.round(wallNow() - startedAt);
    if (missed) {
      await missed.send(0);
      await until(async () => (await statuses()).every((s) => s.minLastId >= 0), 30_000, 'change 0 received by every client', pollMs);
    }
    await Promise.all(workers.map((w) => w.request({ type: 'events' })));
    api.reset();
    const t0 = wallNow();
    await bridge.stop(signal);
    if (missed) {
      for (let id = 1; id <= missed.count; id++) await missed.send(id);
      await Promise.all(workers.map((w) => w.request({ type: 'watch', id: missed.count })));
    }
    bridge = await startBridge();
    const upAfterMs = wallNow() - t0;
    let all = [];
    await until(
      async () => {
        all = (await statuses()).flatMap((s) => s.fresh);
        return all.every((t) => t > t0);
      },
      freshMs,
      `every ${mode} client fresh after ${signal}`,
      pollMs,
    ).catch((error) => log(`  ${error.message}`));
    const arrivals = api.take().map((t) => t - t0);
    const events = {};
    const reports = await Promise.all(workers.map((w) => w.request({ type: 'events' })));
    for (const { counted } of reports) for (const [key, n] of Object.entries(counted)) events[key] = (events[key] ?? 0) + n;
    const workerStalls = reports.map((r) => r.stalls);
    const latencies = (await Promise.all(workers.map((w) => w.request({ type: 'latencies' })))).flat().filter((ms) => ms !== null);
    const freshCount = all.filter((t) => t > t0).length;
    const lastFreshMs = Math.max(...all.filter((t) => t > t0).map((t) => t - t0));
    const buckets = new Array(Math.max(1, Math.ceil(Math.max(0, ...arrivals) / BUCKET_MS) + 1)).fill(0);
    for (const t of arrivals) buckets[Math.max(0, Math.floor(t / BUCKET_MS))]++;
    const label = named ?? (mode === 'plain' ? 'plain socket.io-client' : variant === 'slots' ? 'live-updates, bridge refetch slots (refetchRate 80/s)' : `live-updates, client spread only (refetchSpreadMs ${spreadMs ?? 5000})`);
    const result = { mode, variant, label, spreadMs: mode === 'ours' ? (spreadMs ?? 5000) : null, signal, clients: perProcess * processes, requests: arrivals.length, freshCount, peak: Math.max(...buckets), lastFreshMs: Math.round(lastFreshMs), bridgeUpAfterMs: Math.round(upAfterMs), connectedAfterMs, events, workerStalls, latencies, buckets };
    log(`  storm ${signal} ${label}: peak ${result.peak}/100 ms, last fresh ${result.lastFreshMs} ms, ${freshCount}/${result.clients} fresh, ${arrivals.length} requests, bridge up after ${result.bridgeUpAfterMs} ms (clients connected in ${connectedAfterMs} ms; client workers stalled up to ${Math.max(...workerStalls.map((s) => s.lagMaxMs))} ms)`);
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }, 10_000).catch(() => {})));
    await Promise.all(workers.map((w) => w.stop()));
    await bridge.stop('SIGKILL');
  }
}

export async function run({ log = console.log, clients = 1000, processes = 4 } = {}) {
  const api = await startApi();
  const runs = [];
  try {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      runs.push(await scenario({ mode: 'plain', signal, clients, processes, api, log }));
      runs.push(await scenario({ mode: 'ours', variant: 'slots', signal, clients, processes, api, log }));
      runs.push(await scenario({ mode: 'ours', variant: 'spread', signal, clients, processes, api, log }));
    }
  } finally {
    await api.close();
  }
  const find = (mode, signal, variant = null) => runs.find((r) => r.mode === mode && r.signal === signal && r.variant === variant);
  const rows = [];
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    const base = find('plain', signal);
    const ours = find('ours', signal, 'slots');
    const spread = find('ours', signal, 'spread');
    rows.push(row({ name: `restart storm (${signal}), bridge defaults: peak refetches per 100 ms`, ours: ours.peak, baseline: base.peak, unit: 'req/100ms', goal: 'ratio ≤ 0.2', met: ours.peak <= base.peak / 5 && ours.freshCount === ours.clients }));
    rows.push(row({ name: `restart storm (${signal}), bridge defaults: time until last client fresh`, ours: ours.lastFreshMs, baseline: base.lastFreshMs, unit: 'ms', goal: '(report)', met: null }));
    rows.push(row({ name: `restart storm (${signal}), plain-server fallback (spread 5000 ms): peak per 100 ms`, ours: spread.peak, baseline: base.peak, unit: 'req/100ms', goal: '(report)', met: null }));
  }
  return { rows, detail: { bucketMs: BUCKET_MS, runs } };
}
