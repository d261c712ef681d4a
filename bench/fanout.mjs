// 7. Bridge fan-out: changes/s from one Redis PUBLISH stream through the bridge to N connected
// clients, against the same bridge process calling io.local.emit directly with the same changes.
// Clients are protocol-level socket.io clients (bench/fanout-worker.mjs) in two processes.
import path from 'node:path';
import { createClient } from 'redis';
import { forkWorker, median, root, row, until, wallNow } from './lib/util.mjs';

async function measure({ workers, expected, send }) {
  await Promise.all(workers.map((w) => w.request({ type: 'reset' })));
  const t0 = wallNow();
  await send();
  let statuses = [];
  await until(
    async () => {
      statuses = await Promise.all(workers.map((w) => w.request({ type: 'status' })));
      return statuses.reduce((sum, s) => sum + s.received, 0) >= expected;
    },
    60_000,
    'fan-out deliveries',
    5,
  );
  const end = Math.max(...statuses.map((s) => s.lastAt));
  return expected / ((end - t0) / 1000);
}

export async function run({ log = console.log, redisUrl, clients = 100, messages = 2000, rounds = 3, chunk = 100 } = {}) {
  const host = forkWorker(path.join(root, 'bench/fanout-bridge.mjs'), [redisUrl]);
  const port = await host.request({ type: 'port' });
  const workers = [forkWorker(path.join(root, 'bench/fanout-worker.mjs')), forkWorker(path.join(root, 'bench/fanout-worker.mjs'))];
  const publisher = createClient({ url: redisUrl });
  await publisher.connect();
  const ours = [];
  const base = [];
  try {
    await Promise.all(workers.map((w) => w.request({ type: 'start', port, count: clients / workers.length })));
    await until(async () => (await host.request({ type: 'clients' })) === clients, 10_000, 'fan-out clients connected');
    const expected = clients * messages;
    const payloads = Array.from({ length: messages }, (_, i) => JSON.stringify({ resource: 'books', action: 'update', id: i, obj: { seq: i, title: `Book ${i}` } }));
    const viaRedis = () => Promise.all(payloads.map((p) => publisher.publish('rt-change', p)));
    const direct = () => host.request({ type: 'emit', count: messages, chunk });
    await measure({ workers, expected, send: viaRedis }); // warm-up, both paths
    await measure({ workers, expected, send: direct });
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['ours', 'base'] : ['base', 'ours'];
      for (const which of order) {
        if (which === 'ours') ours.push(await measure({ workers, expected, send: viaRedis }));
        else base.push(await measure({ workers, expected, send: direct }));
      }
    }
  } finally {
    await publisher.quit().catch(() => {});
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }).catch(() => {})));
    await Promise.all(workers.map((w) => w.stop()));
    await host.request({ type: 'close' }, 15_000).catch(() => {});
    await host.stop();
  }
  const k = (v) => `${Math.round(v / 1000)}k`;
  log(`  fan-out to ${clients} clients: via Redis ${ours.map(k).join(', ')} /s; io.local.emit ${base.map(k).join(', ')} /s`);
  const o = median(ours);
  const b = median(base);
  return {
    rows: [row({ name: `bridge fan-out, Redis PUBLISH → ${clients} clients`, ours: o, baseline: b, unit: 'deliveries/s', goal: 'ratio ≥ 0.8', met: o >= 0.8 * b })],
    detail: { clients, messages, rounds, ours, baseline: base },
  };
}
