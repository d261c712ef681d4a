// @vitest-environment node
// Several bridge processes on one Redis: subscriptions follow the client to whichever process it
// reconnects to, and every process delivers a change once.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createCleanups, startAuthApp, startBridge, startClient, startRedis, startSwitch, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

const change = (resource: string, id: number, scope?: string): string => JSON.stringify({ resource, action: 'update', id, ...(scope ? { scope } : {}) });

describe('two bridge processes on one Redis', () => {
  it('re-establishes subscriptions, authorised again, on the process the client reconnects to', async () => {
    const redis = await startRedis(cleanups);
    const app = await startAuthApp(cleanups, { A: ['orders#user:42'] });
    const first = await startBridge(cleanups, { redisUrl: redis.url, authUrl: app.url });
    const second = await startBridge(cleanups, { redisUrl: redis.url, authUrl: app.url });
    const front = await startSwitch(cleanups, first.port as number);
    const client = startClient(cleanups, front.url, { auth: { token: 'A' } });
    client.subscribe('orders', 'user:42');
    client.subscribe('books');
    await until(() => client.live.state === 'connected' && first.health().clients === 1);
    await redis.publish('rt-change', change('orders', 1, 'user:42'));
    await until(() => client.changes.length === 1);

    front.point(second.port as number);
    client.established();
    await first.close(); // a deploy: the client is told to leave and reconnects through the front
    await until(() => client.live.state === 'connected' && second.health().clients === 1);
    expect(app.calls).toHaveLength(2); // authorised again by the new process

    await redis.publish('rt-change', change('orders', 2, 'user:42'));
    await redis.publish('rt-change', change('orders', 3, 'user:43'));
    await redis.publish('rt-change', change('books', 4));
    await until(() => client.changes.includes('books:4'));
    expect(client.changes).toEqual(['orders#user:42:1', 'orders#user:42:2', 'books:4']);
    expect(client.errors).toEqual([]);
  });

  it('a plain socket.io-client on each process gets every public change exactly once, and no scoped one', async () => {
    const redis = await startRedis(cleanups);
    const bridges = [await startBridge(cleanups, { redisUrl: redis.url }), await startBridge(cleanups, { redisUrl: redis.url })];
    const logs = bridges.map((bridge) => {
      const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true });
      cleanups.add(() => socket.close());
      const log: unknown[] = [];
      socket.on('rt-change', (payload: { id: unknown }) => log.push(payload.id));
      return { socket, log };
    });
    await until(() => logs.every(({ socket }) => socket.connected));
    await redis.publish('rt-change', change('orders', 1, 'user:42'));
    await redis.publish('rt-change', change('books', 2));
    await bridges[0]?.publishChange({ resource: 'books', action: 'create', id: 3 });
    await redis.publish('rt-change', change('books', 4));
    await redis.publish('rt-change', change('books', 5));
    // A duplicate of 2-4 (a second path through the adapter) would come before the later marker.
    await until(() => logs.every(({ log }) => log.includes(5)));
    for (const { log } of logs) expect(log).toEqual([2, 3, 4, 5]);
  });
});
