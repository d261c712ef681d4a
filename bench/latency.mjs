// 3. End-to-end latency, Redis PUBLISH → handler, through the bridge CLI: ours (a `subscribe`
// handler of dist/index.js) against a raw socket.io-client `socket.on('rt-change')` on the same
// bridge. Alternating blocks, one client connected at a time, paced publishes, one clock.
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import { freePort, percentile, row, sleep, startBridgeCli, until, wallNow, distUrl } from './lib/util.mjs';

const { createLiveUpdates } = await import(distUrl('index.js'));

function connectOurs(url, onSeq) {
  const live = createLiveUpdates({ url, socketOptions: { transports: ['websocket'] }, environment: { signals: () => () => {} } });
  live.subscribe('books', (change) => onSeq(change.obj.seq));
  return { ready: () => live.state === 'connected', close: () => live.close() };
}

function connectRaw(url, onSeq) {
  const socket = io(url, { transports: ['websocket'], forceNew: true });
  socket.on('rt-change', (change) => onSeq(change.obj.seq));
  return { ready: () => socket.connected, close: () => socket.disconnect() };
}

async function block({ connect, url, publisher, count, warmup, intervalMs, seqBase }) {
  const sent = new Map();
  const latencies = [];
  const client = connect(url, (seq) => {
    const t = sent.get(seq);
    if (t !== undefined && seq >= seqBase + warmup) latencies.push(wallNow() - t);
    sent.delete(seq);
  });
  try {
    await until(client.ready, 10_000, 'latency client connected');
    await sleep(100); // let the bridge finish its per-connection work (version read)
    for (let i = 0; i < count + warmup; i++) {
      const seq = seqBase + i;
      const message = JSON.stringify({ resource: 'books', action: 'update', id: seq, obj: { seq, title: `Book ${seq}` } });
      sent.set(seq, wallNow());
      await publisher.publish('rt-change', message);
      await sleep(intervalMs);
    }
    await until(() => latencies.length >= count, 5_000, 'all latency messages received').catch(() => {});
    return latencies;
  } finally {
    client.close();
  }
}

export async function run({ log = console.log, redisUrl, blocks = 6, perBlock = 300, warmup = 20, intervalMs = 3 } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const bridge = await startBridgeCli(['--port', String(port), '--redis', redisUrl]);
  const publisher = createClient({ url: redisUrl });
  await publisher.connect();
  const ours = [];
  const raw = [];
  let seqBase = 0;
  try {
    for (let b = 0; b < blocks; b++) {
      // Alternate which goes first, so drift in the machine's load hits both alike.
      const order = b % 2 === 0 ? [['ours', connectOurs], ['raw', connectRaw]] : [['raw', connectRaw], ['ours', connectOurs]];
      for (const [name, connect] of order) {
        const latencies = await block({ connect, url, publisher, count: perBlock, warmup, intervalMs, seqBase });
        seqBase += perBlock + warmup;
        (name === 'ours' ? ours : raw).push(...latencies);
      }
    }
  } finally {
    await publisher.quit().catch(() => {});
    await bridge.stop();
  }
  const p = (values, q) => percentile(values, q);
  log(`  latency: ours p50 ${p(ours, 50).toFixed(2)} ms p99 ${p(ours, 99).toFixed(2)} ms (${ours.length}); raw p50 ${p(raw, 50).toFixed(2)} ms p99 ${p(raw, 99).toFixed(2)} ms (${raw.length})`);
  return {
    rows: [
      row({ name: 'latency PUBLISH → handler, p50', ours: p(ours, 50), baseline: p(raw, 50), unit: 'ms', goal: 'ratio ≤ 1.1', met: p(ours, 50) <= 1.1 * p(raw, 50) }),
      row({ name: 'latency PUBLISH → handler, p99', ours: p(ours, 99), baseline: p(raw, 99), unit: 'ms', goal: 'ratio ≤ 1.1', met: p(ours, 99) <= 1.1 * p(raw, 99) }),
    ],
    detail: { samples: { ours: ours.length, raw: raw.length }, intervalMs },
  };
}
