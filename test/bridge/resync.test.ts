// @vitest-environment node
// After a Redis outage the bridge tells clients to refetch at once, and once more after
// resyncAgainMs: a publisher whose own Redis connection came back later may have committed a
// change whose PUBLISH failed, and only a later refetch brings it.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startRestartableRedis } from '../../e2e/fixtures/soak-redis';
import { createCleanups, startBridge, until } from './helpers';

const cleanups = createCleanups();
afterEach(() => cleanups.run());

describe('resync after a Redis outage', () => {
  it('is sent when Redis is back, and again after resyncAgainMs', async () => {
    const redis = await startRestartableRedis();
    cleanups.add(() => redis.stop());
    const bridge = await startBridge(cleanups, { redisUrl: redis.url, resyncAgainMs: 300 });
    const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true });
    cleanups.add(() => socket.disconnect());
    const resyncs: string[] = [];
    socket.on('lu:resync', ({ reason }: { reason: string }) => resyncs.push(reason));
    await until(() => socket.connected);
    await redis.stop();
    await until(() => bridge.health().redis === 'down');
    await redis.start();
    await until(() => resyncs.length === 2, 15_000);
    expect(resyncs).toEqual(['redis-reconnect', 'redis-reconnect-settled']);
  });
});
