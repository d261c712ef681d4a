// 8. Restart storm at 10,000 clients (issue 10): one bridge (its CLI) restarted by SIGTERM while
// changes go out by plain PUBLISH (nothing to replay: every client refetches). Ours (live-updates
// with the bridge's refetch slots) against plain socket.io-clients that refetch on every
// reconnect, refetches counted per 100 ms at the app's API. STORM_10K_CLIENTS and
// STORM_10K_PROCESSES size it (defaults 10,000 and 5) to run it small while developing.
import { scenario, startApi } from './storm.mjs';
import { row } from './lib/util.mjs';

export const NAME = 'restart storm 10k (SIGTERM), plain PUBLISH';

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

/** Plain socket.io-clients, then ours, on one API; the two scenario results. */
export async function runPair({ log, clients, processes, label = '' }) {
  const api = await startApi();
  // Both sides need the time to connect thousands of clients on 2 cores, and ours the slots'
  // window (maxRefetchDelayMs 30 s) past the last reconnection to be fresh.
  const common = { signal: 'SIGTERM', clients, processes, api, log, batch: 200, connectMs: 120_000, freshMs: 100_000, pollMs: 500 };
  try {
    const plain = await scenario({ ...common, mode: 'plain' });
    const ours = await scenario({ ...common, mode: 'ours', variant: 'slots' });
    log(`  ${label || NAME}: plain ${describe(plain)}; ours ${describe(ours)}`);
    return { plain, ours };
  } finally {
    await api.close();
  }
}

const describe = (r) => {
  const s = shape(r.buckets);
  return `peak ${s.peak}/100 ms, busy-window mean ${s.busyMean.toFixed(1)} over ${s.busyBuckets} buckets, last fresh ${r.lastFreshMs} ms, ${r.freshCount}/${r.clients} fresh, ${r.requests} requests`;
};

export async function run({ log = console.log } = {}) {
  const { clients, processes } = stormSize();
  const { plain, ours } = await runPair({ log, clients, processes });
  const o = shape(ours.buckets);
  const p = shape(plain.buckets);
  const peakMet = o.peak <= p.peak / 5;
  const flatMet = o.peak <= 2 * o.busyMean;
  const freshMet = ours.freshCount === ours.clients;
  const n = `${NAME} (${clients} clients)`;
  return {
    rows: [
      row({ name: NAME, ours: o.peak, baseline: p.peak, unit: 'req/100ms', goal: 'peak ≤ 0.2 × plain, no 100 ms > 2 × busy mean, all fresh', met: peakMet && flatMet && freshMet }),
      row({ name: `${NAME}: peak refetches per 100 ms`, ours: o.peak, baseline: p.peak, unit: 'req/100ms', goal: 'ratio ≤ 0.2', met: peakMet }),
      row({ name: `${NAME}: busiest 100 ms vs busy-window mean`, ours: o.peak, baseline: o.busyMean, unit: 'req/100ms', goal: 'ratio ≤ 2', met: flatMet }),
      row({ name: `${NAME}: time until last client fresh`, ours: ours.lastFreshMs, baseline: plain.lastFreshMs, unit: 'ms', goal: '(report)', met: null }),
      row({ name: `${NAME}: clients fresh`, ours: ours.freshCount, baseline: ours.clients, unit: 'clients', goal: '= all', met: freshMet }),
    ],
    detail: { name: n, clients, processes, bucketMs: 100, plain: { ...plain, shape: p }, ours: { ...ours, shape: o } },
  };
}
