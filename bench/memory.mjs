// 6. Memory: heap bytes per subscription at 1k/10k/100k subscriptions (against one raw
// socket.on listener per subscription), and after 100,000 subscribe/unsubscribe cycles and 100
// reconnects (real transport losses, each followed by a refetch) heap and listener counts are
// back where they were. socket.io-client's own heap creeps up ~1 KB per reconnect (measured
// here too, on a plain socket), so the heap is compared with that growth, not with zero.
// Measured in a separate Node process with --expose-gc.
import path from 'node:path';
import { forkWorker, freePort, root, row, startBridgeCli } from './lib/util.mjs';

const HEAP_TOLERANCE = 256 * 1024;

export async function run({ log = console.log, sizes = [1_000, 10_000, 100_000], cycles = 100_000, reconnects = 100, settleMs = 11_000 } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const bridge = await startBridgeCli(['--port', String(port)]);
  const worker = forkWorker(path.join(root, 'bench/memory-worker.mjs'), [], ['--expose-gc']);
  try {
    const perSub = [];
    for (const n of sizes) perSub.push(await worker.request({ type: 'perSubscription', url, n }, 120_000));
    const leak = await worker.request({ type: 'leakCheck', url, cycles, reconnects, settleMs }, 180_000);
    for (const p of perSub) log(`  memory: ${p.n} subscriptions: ours ${Math.round(p.ours)} B each (${Math.round(p.oursNoRefetch)} B without a refetch), raw socket.on ${Math.round(p.raw)} B each`);
    const growth = leak.heapAfter - leak.heapBefore;
    log(`  memory: after ${leak.cycles} subscribe/unsubscribe cycles and ${leak.reconnects} reconnects (${leak.refetches} refetches): heap ${leak.heapBefore} → ${leak.heapAfter} B (${growth >= 0 ? '+' : ''}${growth}), listeners ${leak.listenersBefore} → ${leak.listenersAfter}; a plain socket.io-client grows ${leak.plainGrowth} B over the same reconnects`);
    const k = (n) => (n >= 1000 ? `${n / 1000}k` : String(n));
    return {
      rows: [
        ...perSub.map((p) => row({ name: `heap per subscription at ${k(p.n)}`, ours: p.ours, baseline: p.raw, unit: 'bytes', goal: '(report)', met: null })),
        row({ name: `heap growth after ${k(cycles)} sub/unsub cycles + ${reconnects} reconnects (baseline: plain socket.io-client, same reconnects)`, ours: growth, baseline: leak.plainGrowth, unit: 'bytes', goal: `≤ baseline + ${HEAP_TOLERANCE / 1024} KiB`, met: growth <= Math.max(0, leak.plainGrowth) + HEAP_TOLERANCE && leak.reconnects === reconnects }),
        row({ name: `listeners after ${k(cycles)} sub/unsub cycles + ${reconnects} reconnects`, ours: leak.listenersAfter, baseline: leak.listenersBefore, unit: 'listeners', goal: '= baseline', met: leak.listenersAfter === leak.listenersBefore }),
      ],
      detail: { perSubscription: perSub, leak, heapToleranceBytes: HEAP_TOLERANCE },
    };
  } finally {
    await worker.stop();
    await bridge.stop();
  }
}
