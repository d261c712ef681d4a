// 4. Wake on a dead link: the link through a proxy goes silent without closing (a laptop's
// sleep), then the page wakes. Ours: time from the 'wake' signal to the refetch starting.
// Baseline: plain socket.io-client on the same kind of link has no wake detection; its refetch
// (on reconnect) starts once socket.io's heartbeat gives up (the bridge's defaults: pingInterval
// 10 s + pingTimeout 5 s) and it has reconnected. Both over websocket-only transports.
import { io } from 'socket.io-client';
import { startBlackholeProxy } from './lib/blackhole-proxy.mjs';
import { freePort, median, row, sleep, startBridgeCli, until, wallNow, distUrl } from './lib/util.mjs';

const { createLiveUpdates } = await import(distUrl('index.js'));

const BASELINE_CAP_MS = 60_000;

/** One trial of ours; `until` says when it caught up: 'refetch' (a refetch started) or 'replayed' (the log replayed the gap). */
async function oursOnce(port, caughtUpBy = 'refetch') {
  const proxy = await startBlackholeProxy(port);
  let fireWake = () => {};
  const refetches = [];
  let replayedAt = null;
  const live = createLiveUpdates({
    url: proxy.url,
    socketOptions: { transports: ['websocket'] },
    environment: { signals: (emit) => ((fireWake = () => emit('wake')), () => {}) },
  });
  // The load when the subscription becomes live (reason 'subscribed') is not a wake's refetch.
  const { ready } = live.subscribe('books', () => {}, { refetch: ({ reason }) => void (reason !== 'subscribed' && refetches.push({ t: wallNow(), reason })) });
  live.onStateChange((_, info) => info.reason === 'replayed' && (replayedAt ??= wallNow()));
  try {
    await until(() => live.state === 'connected', 10_000, 'ours connected');
    await ready;
    await sleep(200 + Math.random() * 300);
    if (proxy.freeze() === 0) throw new Error('nothing to freeze');
    const t0 = wallNow();
    fireWake();
    if (caughtUpBy === 'replayed') {
      await until(() => replayedAt !== null || refetches.length > 0, 10_000, 'ours caught up after wake', 2);
      if (replayedAt === null) throw new Error(`refetched (${refetches[0].reason}) instead of replaying`);
      return { ms: replayedAt - t0, reason: 'replayed' };
    }
    await until(() => refetches.length > 0, 10_000, 'ours refetch after wake', 2);
    return { ms: refetches[0].t - t0, reason: refetches[0].reason };
  } finally {
    live.close();
    await proxy.close();
  }
}

/** A plain client that refetches on every reconnect, as a hand-written app would. */
async function baselineOnce(port) {
  const proxy = await startBlackholeProxy(port);
  const socket = io(proxy.url, { transports: ['websocket'], forceNew: true });
  let connects = 0;
  let disconnectAt = null;
  let refetchAt = null;
  socket.on('disconnect', () => (disconnectAt ??= wallNow()));
  socket.on('connect', () => {
    connects++;
    if (connects > 1) refetchAt ??= wallNow();
  });
  try {
    await until(() => socket.connected, 10_000, 'baseline connected');
    await sleep(Math.random() * 10_000); // a random phase against the server's ping timer
    proxy.freeze();
    const t0 = wallNow();
    await until(() => refetchAt !== null, BASELINE_CAP_MS, 'baseline refetch', 20).catch(() => {});
    return { ms: refetchAt === null ? BASELINE_CAP_MS : refetchAt - t0, disconnectMs: disconnectAt === null ? null : disconnectAt - t0, capped: refetchAt === null };
  } finally {
    socket.disconnect();
    await proxy.close();
  }
}

export async function run({ log = console.log, trials = 7, baselineTrials = 3 } = {}) {
  // The refetch row as before: a bridge without its change log, so the gap is caught up by a refetch.
  const port = await freePort();
  const bridge = await startBridgeCli(['--port', String(port), '--log-max-length', '0']);
  // The replay row: the bridge's default (the change log in memory), so the gap is replayed.
  const replayPort = await freePort();
  const replayBridge = await startBridgeCli(['--port', String(replayPort)]);
  try {
    // The baselines wait 5-15 s each for socket.io's heartbeat: run them alongside our trials.
    const baselinePromise = Promise.all(Array.from({ length: baselineTrials }, () => baselineOnce(port)));
    const ours = [];
    for (let i = 0; i < trials; i++) ours.push(await oursOnce(port));
    const replayed = [];
    for (let i = 0; i < trials; i++) replayed.push(await oursOnce(replayPort, 'replayed'));
    const baseline = await baselinePromise;
    const oursMs = median(ours.map((o) => o.ms));
    const replayMs = median(replayed.map((o) => o.ms));
    const baseMs = median(baseline.map((b) => b.ms));
    log(`  wake: ours ${ours.map((o) => Math.round(o.ms)).join(', ')} ms (${ours[0].reason}); replayed ${replayed.map((o) => Math.round(o.ms)).join(', ')} ms; plain socket.io-client refetch ${baseline.map((b) => Math.round(b.ms)).join(', ')} ms, disconnect noticed ${baseline.map((b) => Math.round(b.disconnectMs ?? NaN)).join(', ')} ms`);
    return {
      rows: [
        row({ name: 'wake on dead link: wake → refetch start (median)', ours: oursMs, baseline: baseMs, unit: 'ms', goal: 'ours ≤ 1000 ms', met: ours.every((o) => o.ms <= 1000) }),
        row({ name: 'wake on dead link: wake → caught up by replay (median)', ours: replayMs, baseline: baseMs, unit: 'ms', goal: 'ours ≤ 1000 ms', met: replayed.every((o) => o.ms <= 1000) }),
      ],
      detail: { pingIntervalMs: 10_000, pingTimeoutMs: 5_000, ours, replayed, baseline },
    };
  } finally {
    await bridge.stop();
    await replayBridge.stop();
  }
}
