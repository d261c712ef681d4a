// The bridge under the fan-out benchmark, in its own process: createBridge from live-updates-bridge
// on Redis, plus one extra command for the baseline: the same server calling io.local.emit
// directly (no Redis hop, no parsing), in the same chunks a Redis read delivers.
import { bridgeDistUrl, serveRequests } from './lib/util.mjs';

const { createBridge, createSilentLogger } = await import(bridgeDistUrl('index.js'));

const bridge = await createBridge({ port: 0, redisUrl: process.argv[2], logger: createSilentLogger() });
const change = (i) => ({ resource: 'books', action: 'update', id: i, obj: { seq: i, title: `Book ${i}` } });

serveRequests({
  port: () => bridge.port,
  clients: () => bridge.io.engine.clientsCount,
  async emit({ count, chunk }) {
    for (let i = 0; i < count; i += chunk) {
      for (let j = i; j < Math.min(count, i + chunk); j++) bridge.io.local.emit('rt-change', change(j));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return count;
  },
  close: () => bridge.close().then(() => true),
});
