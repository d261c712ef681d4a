// @vitest-environment node
// No input takes the bridge down: foreign origins, oversized messages, subscribe floods,
// oversized handshake lists. Assertions are on what is delivered and refused, never on timing.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createCleanups, startBridge, startClient, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

/** A raw socket.io-client speaking the protocol by hand; records the greeting and the disconnect reason. */
function rawClient(url: string, auth: Record<string, unknown> = { lu: { v: 1, subs: [] } }) {
  const socket: Socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  cleanups.add(() => socket.close());
  const state = { hello: undefined as unknown, disconnect: undefined as string | undefined, changes: [] as unknown[] };
  socket.on('lu:hello', (hello: unknown) => (state.hello = hello));
  socket.on('disconnect', (reason) => (state.disconnect = reason));
  socket.on('rt-change', (change: { id: unknown }) => state.changes.push(change.id));
  return Object.assign(state, { socket });
}

/** Sends a raw WebSocket upgrade request with an Origin header; resolves 'open' (101) or the HTTP status and body. */
function upgrade(port: number, origin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({
      port,
      host: '127.0.0.1',
      path: '/socket.io/?EIO=4&transport=websocket',
      headers: { origin, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve('open');
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', reject).end();
  });
}

function poll(port: number, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/socket.io/?EIO=4&transport=polling', headers: { origin } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject).end();
  });
}

describe('origins', () => {
  it('refuses a WebSocket upgrade and a polling handshake from a foreign Origin', async () => {
    const bridge = await startBridge(cleanups, { origins: ['http://app.example'] });
    const port = bridge.port as number;
    // engine.io refuses upgrades with 400 and the reason in the body.
    expect(await upgrade(port, 'http://evil.example')).toBe('400 Forbidden');
    expect(await poll(port, 'http://evil.example')).toBe(403);
    expect(await upgrade(port, 'http://app.example')).toBe('open');
    expect(await poll(port, 'http://app.example')).toBe(200);
  });
});

describe('message sizes', () => {
  it('closes a connection that sends more than maxHttpBufferSize, and the others carry on', async () => {
    const bridge = await startBridge(cleanups, { maxHttpBufferSize: 10_000 });
    const good = startClient(cleanups, bridge.url);
    good.subscribe('books');
    const bad = rawClient(bridge.url);
    await until(() => good.live.state === 'connected' && bad.socket.connected);
    bad.socket.emit('lu:subscribe', { resource: 'x'.repeat(20_000) });
    await until(() => bad.disconnect !== undefined);
    expect(bad.disconnect).toBe('transport close');
    await bridge.publishChange({ resource: 'books', action: 'create', id: 1 });
    await until(() => good.changes.length === 1);
    expect(good.changes).toEqual(['books:1']);
  });

  it('refuses oversized names and handshake lists as invalid, and keeps the rest', async () => {
    const bridge = await startBridge(cleanups, { maxSubscriptions: 3, maxNameLength: 10 });
    const subs = [{ resource: 'a' }, { resource: 'b' }, { resource: 'x'.repeat(11) }, { resource: 'c' }, { resource: 'd' }, { resource: 'e', scope: 's'.repeat(11) }, 'junk', { scope: 'no resource' }];
    const client = rawClient(bridge.url, { lu: { v: 1, subs } });
    await until(() => client.hello !== undefined);
    const { denied } = client.hello as { denied: Array<{ resource: string; code: string }> };
    expect(denied.map(({ resource, code }) => `${resource.slice(0, 3)}:${code}`)).toEqual(['xxx:invalid', 'd:invalid', 'e:invalid']);
    expect(await client.socket.emitWithAck('lu:subscribe', { resource: 'f' })).toMatchObject({ ok: false, code: 'invalid' }); // a, b, c held
    expect(await client.socket.emitWithAck('lu:unsubscribe', { resource: 'a' })).toEqual({ ok: true });
    expect(await client.socket.emitWithAck('lu:subscribe', { resource: 'f' })).toEqual({ ok: true, epoch: expect.any(String), offset: 0 });
    await bridge.publishChange({ resource: 'a', action: 'create', id: 1 });
    await bridge.publishChange({ resource: 'f', action: 'create', id: 2 });
    await until(() => client.changes.length === 1);
    expect(client.changes).toEqual([2]);
  });

  it('accepts a connection whose handshake list is malformed, with no subscriptions', async () => {
    const bridge = await startBridge(cleanups);
    for (const lu of ['nonsense', null, { v: 1, subs: 'books' }, { v: 1, subs: [null, 1, [], { resource: {} }] }, { subs: { length: 5 } }]) {
      const client = rawClient(bridge.url, { lu });
      await until(() => client.hello !== undefined);
      expect(client.hello).toEqual({ v: 1, denied: [], batch: true, log: true, positions: [] });
    }
    expect(bridge.health().ok).toBe(true);
  });
});

describe('rates', () => {
  it('refuses subscribes beyond the rate as rate-limited, keeping the connection', async () => {
    const bridge = await startBridge(cleanups, { subscribeRate: { burst: 5, perSecond: 0.5 } });
    const client = rawClient(bridge.url);
    await until(() => client.socket.connected);
    const replies = (await Promise.all(Array.from({ length: 15 }, (_, i) => client.socket.timeout(5000).emitWithAck('lu:subscribe', { resource: `r${i}` })))) as Array<{ ok: boolean; code?: string }>;
    const refused = replies.filter((reply) => reply.code === 'rate-limited').length;
    expect(replies.filter((reply) => reply.ok).length).toBeGreaterThanOrEqual(5);
    expect(refused).toBeGreaterThanOrEqual(8); // at most a token or two refill meanwhile
    expect(refused + replies.filter((reply) => reply.ok).length).toBe(15);
    expect(client.socket.connected).toBe(true);
  });

  it('disconnects a flooding client, while another keeps receiving every change', async () => {
    const bridge = await startBridge(cleanups);
    const good = startClient(cleanups, bridge.url);
    good.subscribe('books');
    const flooder = rawClient(bridge.url);
    await until(() => good.live.state === 'connected' && flooder.socket.connected);
    let sent = 0;
    const flood = (): void => {
      if (!flooder.socket.connected) return;
      for (let i = 0; i < 500; i++, sent++) {
        if (i % 3 === 0) flooder.socket.emit('lu:subscribe', { resource: `r${sent}` }, () => undefined);
        else if (i % 3 === 1) flooder.socket.emit('garbage', { nested: [[[sent]]] });
        else flooder.socket.emit('lu:unsubscribe', 'not even an object');
      }
      setImmediate(flood);
    };
    flood();
    for (let id = 1; id <= 30; id++) await bridge.publishChange({ resource: 'books', action: 'update', id });
    await until(() => good.changes.length === 30 && flooder.disconnect !== undefined);
    expect(good.changes).toEqual(Array.from({ length: 30 }, (_, i) => `books:${i + 1}`));
    expect(flooder.disconnect).toBe('io server disconnect');
    expect(sent).toBeGreaterThan(250);
    expect(bridge.health()).toMatchObject({ ok: true, clients: 1 });
  });
});
