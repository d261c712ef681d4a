// 8. Restart storm at 10,000 clients (issue 10): one bridge (its CLI, on Redis) restarted by
// SIGTERM while 20 changes are published during the restart. Plain socket.io-clients that refetch
// on every reconnect are the baseline of two rows:
// - `plain PUBLISH`: the changes go out by plain PUBLISH and the bridge runs without a change log
//   (LU_LOG_MAX_LENGTH=0, ignored by builds without one): every client refetches, at the bridge's
//   refetch slots; refetches are counted per 100 ms at the app's API;
// - `replay`: the changes go through the log (FCALL lu_publish), bridge defaults: clients should
//   be handed what they missed instead of refetching. Skipped while the build has no log.
// STORM_10K_CLIENTS and STORM_10K_PROCESSES size it (defaults 10,000 and 5) to run it small.
import { scenario, startApi } from './storm.mjs';
import { percentile, row, startRedis } from './lib/util.mjs';
import { createPublisher, replayBuilt, skippedRow } from './lib/replay.mjs';

export const NAME = 'restart storm 10k (SIGTERM), plain PUBLISH';
export const REPLAY_NAME = 'restart storm 10k (SIGTERM), replay';
const MISSED = 20;

/** Sizes of the run, from the environment. */
export function stormSize(env = process.env) {
  const clients = Number(env.STORM_10K_CLIENTS ?? 10_000);
  const processes = Number(env.STORM_10K_PROCESSES ?? 5);
  if (!Number.isInteger(clients) || clients < processes || !Number.isInteger(processes) || processes < 1) throw new Error('STORM_10K_CLIENTS and STORM_10K_PROCESSES: whole numbers, clients ≥ processes ≥ 1');
  return { clients, processes };
}

/**
 * The shape of a histogram of refetches per bucket: its busiest bucket against the mean of the
 * busy window (first to last bucket with a refetch). A cliff — everyone past the slots' capacity
 * piled on one instant — shows as a busiest bucket far above that mean.
 */
export function shape(buckets) {
  const first = buckets.findIndex((n) => n > 0);
  if (first < 0) return { peak: 0, busyMean: 0, busyBuckets: 0 };
  const last = buckets.length - 1 - [...buckets].reverse().findIndex((n) => n > 0);
  const busy = buckets.slice(first, last + 1);
  const total = busy.reduce((sum, n) => sum + n, 0);
  return { peak: Math.max(...busy), busyMean: total / busy.length, busyBuckets: busy.length };
}

const describe = (r) => {
  const s = shape(r.buckets);
  const replayed = r.events['state:connected/replayed'] ?? 0;
  return `peak ${s.peak}/100 ms, busy-window mean ${s.busyMean.toFixed(1)} over ${s.busyBuckets} buckets, last fresh ${r.lastFreshMs} ms, ${r.freshCount}/${r.clients} fresh, ${r.requests} requests${replayed ? `, ${replayed} replayed` : ''}`;
};

function plainRows(plain, ours) {
  const o = shape(ours.buckets);
  const p = shape(plain.buckets);
  const peakMet = o.peak <= p.peak / 5;
  const flatMet = o.peak <= 2 * o.busyMean;
  const freshMet = ours.freshCount === ours.clients;
  return [
    row({ name: NAME, ours: o.peak, baseline: p.peak, unit: 'req/100ms', goal: 'peak ≤ 0.2 × plain, no 100 ms > 2 × busy mean, all fresh', met: peakMet && flatMet && freshMet }),
    row({ name: `${NAME}: peak refetches per 100 ms`, ours: o.peak, baseline: p.peak, unit: 'req/100ms', goal: 'ratio ≤ 0.2', met: peakMet }),
    row({ name: `${NAME}: busiest 100 ms vs busy-window mean`, ours: o.peak, baseline: o.busyMean, unit: 'req/100ms', goal: 'ratio ≤ 2', met: flatMet }),
    row({ name: `${NAME}: time until last client fresh`, ours: ours.lastFreshMs, baseline: plain.lastFreshMs, unit: 'ms', goal: '(report)', met: null }),
    row({ name: `${NAME}: clients fresh`, ours: ours.freshCount, baseline: ours.clients, unit: 'clients', goal: '= all', met: freshMet }),
  ];
}

function replayRows(plain, ours) {
  const requestsMet = ours.requests <= plain.requests / 100;
  const freshMet = ours.freshCount === ours.clients;
  const lastMet = freshMet && ours.lastFreshMs <= 1.2 * plain.lastFreshMs;
  return [
    row({ name: REPLAY_NAME, ours: ours.requests, baseline: plain.requests, unit: 'API requests', goal: 'requests ≤ 0.01 × plain, last fresh ≤ 1.2 × plain, all fresh', met: requestsMet && lastMet && freshMet }),
    row({ name: `${REPLAY_NAME}: time until last client fresh`, ours: ours.lastFreshMs, baseline: plain.lastFreshMs, unit: 'ms', goal: 'ratio ≤ 1.2', met: lastMet }),
    row({ name: `${REPLAY_NAME}: clients fresh`, ours: ours.freshCount, baseline: ours.clients, unit: 'clients', goal: '= all', met: freshMet }),
  ];
}

export async function run({ log = console.log, redisUrl } = {}) {
  const { clients, processes } = stormSize();
  const ownRedis = redisUrl ? null : await startRedis();
  const url = redisUrl ?? ownRedis.url;
  const api = await startApi();
  const publisher = await createPublisher(url);
  const withLog = await replayBuilt();
  // Both sides need the time to connect thousands of clients on 2 cores, and ours the slots'
  // window (maxRefetchDelayMs 30 s) past the last reconnection to be fresh.
  const common = { signal: 'SIGTERM', clients, processes, api, log, batch: 200, connectMs: 120_000, freshMs: 100_000, pollMs: 500, bridgeArgs: ['--redis', url] };
  const noLog = { ...common, bridgeEnv: { LU_LOG_MAX_LENGTH: '0' }, missed: { send: publisher.plain, count: MISSED } };
  try {
    const plain = await scenario({ ...noLog, mode: 'plain' });
    const ours = await scenario({ ...noLog, mode: 'ours', variant: 'slots' });
    log(`  ${NAME} (${clients} clients): plain ${describe(plain)}; ours ${describe(ours)}`);
    let replay = null;
    if (withLog) {
      replay = await scenario({ ...common, mode: 'ours', variant: 'slots', label: 'live-updates, change log (bridge defaults)', missed: { send: publisher.logged, count: MISSED } });
      log(`  ${REPLAY_NAME} (${clients} clients): ${describe(replay)}`);
    } else log(`  ${REPLAY_NAME}: skipped, this build's bridge has no change log`);
    const rows = [...plainRows(plain, ours), ...(replay ? replayRows(plain, replay) : [skippedRow(REPLAY_NAME, 'API requests', 'requests ≤ 0.01 × plain, last fresh ≤ 1.2 × plain, all fresh')])];
    // Per-client latencies summarised: ten thousand numbers would make details.json unreadable.
    const detail = ({ latencies, ...r }) => ({ ...r, shape: shape(r.buckets), latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length } });
    return { rows, detail: { clients, processes, bucketMs: 100, missed: MISSED, plain: detail(plain), ours: detail(ours), replay: replay && detail(replay) } };
  } finally {
    await publisher.close();
    await api.close();
    await ownRedis?.stop();
  }
}
