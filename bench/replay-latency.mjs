// 10. Replay latency (issue 10): a bridge (its CLI, on Redis, defaults) restarted by SIGTERM while
// 20 changes go through the change log; per client, the time from its reconnection to the last
// missed change reaching its handler. Baseline: plain socket.io-clients refetching the same
// resource from a real HTTP API (100 records of JSON) on reconnection, reconnection to response.
// REPLAY_LATENCY_CLIENTS sizes it (default 500, few enough that the restart is not a storm).
// Skipped while the build's bridge has no change log.
import { scenario, startApi } from './storm.mjs';
import { percentile, row, startRedis } from './lib/util.mjs';
import { createPublisher, replayBuilt, skippedRow } from './lib/replay.mjs';

export const NAME = 'replay latency';
const MISSED = 20;
const BOOKS = JSON.stringify(Array.from({ length: 100 }, (_, id) => ({ id, title: `Book ${id}`, author: `Author ${id % 17}`, year: 1950 + (id % 70), tags: ['fiction', 'classic'] })));

export async function run({ log = console.log, redisUrl } = {}) {
  const clients = Number(process.env.REPLAY_LATENCY_CLIENTS ?? 500);
  if (!(await replayBuilt())) {
    log(`  ${NAME}: skipped, this build's bridge has no change log`);
    return { rows: [skippedRow(NAME, 'ms', 'every client caught up'), skippedRow(`${NAME}: p99`, 'ms', 'every client caught up')], detail: { skipped: 'replay not built' } };
  }
  const ownRedis = redisUrl ? null : await startRedis();
  const url = redisUrl ?? ownRedis.url;
  const api = await startApi({ body: BOOKS });
  const publisher = await createPublisher(url);
  const common = { signal: 'SIGTERM', clients, processes: 2, api, log, batch: 100, bridgeArgs: ['--redis', url], missed: { send: publisher.logged, count: MISSED } };
  try {
    const plain = await scenario({ ...common, mode: 'plain' });
    const ours = await scenario({ ...common, mode: 'ours', variant: 'slots', label: 'live-updates, change log (bridge defaults)' });
    const stats = (r) => ({ p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), n: r.latencies.length, replayed: r.events['state:connected/replayed'] ?? 0, requests: r.requests });
    const o = stats(ours);
    const p = stats(plain);
    log(`  ${NAME} (${clients} clients, ${MISSED} missed changes): reconnection → last missed change p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms (${o.n} clients, ${o.replayed} replayed, ${o.requests} refetches); plain refetch p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms (${p.n} clients)`);
    const complete = o.n === ours.clients && p.n === plain.clients;
    return {
      rows: [
        row({ name: NAME, ours: o.p50, baseline: p.p50, unit: 'ms, p50 (reconnection → last missed change; baseline: → refetch done)', goal: 'every client caught up', met: complete }),
        row({ name: `${NAME}: p99`, ours: o.p99, baseline: p.p99, unit: 'ms', goal: 'every client caught up', met: complete }),
      ],
      detail: { clients, missed: MISSED, ours: o, plain: p },
    };
  } finally {
    await publisher.close();
    await api.close();
    await ownRedis?.stop();
  }
}
