// @vitest-environment node
// createBridge basics: publishing, the version on connect, /healthz, graceful close.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createCleanups, startBridge, startClient, startRedis, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

describe('createBridge', () => {
  it('publishChange rejects invalid and oversized changes, and relays valid ones with their extra keys', async () => {
    const bridge = await startBridge(cleanups, { maxChangeSize: 500 });
    const client = startClient(cleanups, bridge.url);
    const seen: unknown[] = [];
    client.live.subscribe('books', (change) => seen.push(change));
    await until(() => client.live.state === 'connected');
    const bad = [{ resource: '', action: 'create', id: 1 }, { resource: 'books', action: 'explode', id: 1 }, { resource: 'books', action: 'create', id: 1.5 }, { resource: 'books', action: 'create' }, '{"resource":"books","action":"create","id":1}', null];
    for (const change of bad) await expect(bridge.publishChange(change as never)).rejects.toThrow(TypeError);
    await expect(bridge.publishChange({ resource: 'books', action: 'create', id: 1, obj: 'x'.repeat(600) })).rejects.toThrow(/maxChangeSize/);
    await bridge.publishChange({ resource: 'books', action: 'update', id: 'b7', obj: { title: 'Dune' }, editor: 'ann' });
    await until(() => seen.length === 1);
    // The change log adds where the change stands in it.
    expect(seen).toEqual([{ resource: 'books', action: 'update', id: 'b7', obj: { title: 'Dune' }, editor: 'ann', offset: 1, epoch: expect.any(String) }]);
  });

  it('drops oversized and malformed messages from Redis, and relays the next good one', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url, maxChangeSize: 200_000 });
    const client = startClient(cleanups, bridge.url);
    client.subscribe('books');
    await until(() => client.live.state === 'connected');
    await redis.publish('rt-change', JSON.stringify({ resource: 'books', action: 'create', id: 1, obj: 'x'.repeat(300_000) }));
    const depth = 50_000; // valid JSON under the size cap, but deeper than socket.io's recursive encoder can go
    await redis.publish('rt-change', `{"resource":"books","action":"create","id":3,"obj":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    await redis.publish('rt-change', '{"resource":"books"');
    await redis.publish('rt-change', JSON.stringify({ resource: 'books', action: 'create', id: 2 }));
    await until(() => client.changes.length === 1);
    expect(client.changes).toEqual(['books:2']);
    expect(client.errors).toEqual([]); // the bridge dropped them; the client never saw them
  });

  it('sends the stored version on every connection, and new versions to everyone', async () => {
    const bridge = await startBridge(cleanups);
    await bridge.publishVersion('v1');
    const client = startClient(cleanups, bridge.url);
    await until(() => client.live.version === 'v1');
    const notices: Array<string | null> = [];
    client.live.onNewVersion(({ latest }) => notices.push(latest));
    await bridge.publishVersion('v2');
    await until(() => notices.length === 1);
    expect(notices).toEqual(['v2']);
    await expect(bridge.publishVersion('  ')).rejects.toThrow(TypeError);
  });

  it('answers /healthz, and closes gracefully: clients are told, new ones refused, close is idempotent', async () => {
    const bridge = await startBridge(cleanups);
    const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    cleanups.add(() => socket.close());
    await until(() => socket.connected);
    const response = await fetch(`${bridge.url}/healthz`);
    expect(await response.json()).toEqual({ ok: true, redis: 'embedded', clients: 1 });
    let reason = '';
    socket.on('disconnect', (why) => (reason = why));
    await Promise.all([bridge.close(), bridge.close()]);
    expect(reason).toBe('io server disconnect');
    expect(bridge.health().ok).toBe(false);
    await expect(fetch(`${bridge.url}/healthz`)).rejects.toThrow();
  });

  it('warns at start when cookie-forwarding authUrl meets origins "*"', async () => {
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (message: string) => warnings.push(message) };
    await startBridge(cleanups, { authUrl: 'http://127.0.0.1:1/auth', logger });
    await startBridge(cleanups, { authUrl: 'http://127.0.0.1:1/auth', origins: ['https://app.example'], logger });
    expect(warnings.filter((message) => message.includes('origins'))).toHaveLength(1);
  });

  it('greets every connection, plain ones included', async () => {
    const bridge = await startBridge(cleanups);
    const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true });
    cleanups.add(() => socket.close());
    const hello = await new Promise((resolve) => socket.once('lu:hello', resolve));
    expect(hello).toEqual({ v: 1, denied: [], batch: true, log: true, positions: [] });
  });
});
