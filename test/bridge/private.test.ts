// @vitest-environment node
// Private resources: a client receives only what it subscribed to and was allowed to see.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenAuthorizer, signToken } from '../../src/bridge/index';
import { createCleanups, startAuthApp, startBridge, startClient, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

/** A plain socket.io-client, as the tutorials use: no `lu` in its handshake. */
function plainClient(url: string) {
  const socket = connect(url, { transports: ['websocket'], forceNew: true });
  cleanups.add(() => socket.close());
  const changes: string[] = [];
  socket.on('rt-change', (change: { resource: string; id: unknown; scope?: string }) => changes.push(`${change.resource}${change.scope ? `#${change.scope}` : ''}:${String(change.id)}`));
  return { socket, changes };
}

describe('scoped changes', () => {
  it('a second user never receives a scoped change meant for the first', async () => {
    const app = await startAuthApp(cleanups, { A: ['orders#user:42'], B: ['orders#user:43'] });
    const bridge = await startBridge(cleanups, { authUrl: app.url });
    const alice = startClient(cleanups, bridge.url, { auth: { token: 'A' } });
    alice.subscribe('orders', 'user:42');
    alice.subscribe('books');
    const bob = startClient(cleanups, bridge.url, { auth: { token: 'B' } });
    bob.subscribe('orders', 'user:43');
    bob.subscribe('orders', 'user:42'); // not his: refused in the greeting
    bob.subscribe('books');
    const legacy = plainClient(bridge.url);
    await until(() => alice.live.state === 'connected' && bob.errors.length === 1 && legacy.socket.connected);

    await bridge.publishChange({ resource: 'orders', action: 'create', id: 1, scope: 'user:42' });
    await bridge.publishChange({ resource: 'orders', action: 'create', id: 2, scope: 'user:43' });
    await bridge.publishChange({ resource: 'orders', action: 'create', id: 3 }); // unscoped: nobody asked for it
    await bridge.publishChange({ resource: 'books', action: 'create', id: 4 });
    await bridge.publishChange({ resource: 'books', action: 'create', id: 5 }); // the last one: all before it arrived first
    await until(() => [alice, bob, legacy].every((client) => client.changes.includes('books:5')));

    expect(alice.changes).toEqual(['orders#user:42:1', 'books:4', 'books:5']);
    expect(bob.changes).toEqual(['orders#user:43:2', 'books:4', 'books:5']);
    expect(legacy.changes).toEqual(['orders:3', 'books:4', 'books:5']); // public unscoped changes only, as before
    expect(bob.codes()).toEqual(['forbidden:orders#user:42']);
    expect(alice.errors).toEqual([]);
  });

  it('refuses an unauthorised live subscribe with forbidden, delivers nothing, and does not ask again', async () => {
    const app = await startAuthApp(cleanups, { A: ['orders#user:42'] });
    const bridge = await startBridge(cleanups, { authUrl: app.url });
    const mallory = startClient(cleanups, bridge.url, { auth: { token: 'M' } });
    mallory.subscribe('books');
    await until(() => mallory.live.state === 'connected');
    mallory.subscribe('orders', 'user:42'); // after the greeting: a live lu:subscribe
    await until(() => mallory.errors.length === 1);
    expect(mallory.errors[0]).toMatchObject({ code: 'forbidden', resource: 'orders', scope: 'user:42' });

    await bridge.publishChange({ resource: 'orders', action: 'update', id: 1, scope: 'user:42' });
    await bridge.publishChange({ resource: 'books', action: 'update', id: 2 });
    await until(() => mallory.changes.includes('books:2'));
    expect(mallory.changes).toEqual(['books:2']);
    expect(app.calls.map((call) => call.body.scope)).toEqual(['user:42']); // asked once: no retry loop
  });

  it('refuses private subscriptions when no authUrl or authorize is configured', async () => {
    const bridge = await startBridge(cleanups, { privateResources: ['audit'] });
    const client = startClient(cleanups, bridge.url);
    client.subscribe('orders', 'user:1');
    client.subscribe('audit');
    client.subscribe('books');
    await until(() => client.errors.length === 2);
    expect(client.codes().sort()).toEqual(['forbidden:audit', 'forbidden:orders#user:1']);
    await bridge.publishChange({ resource: 'audit', action: 'create', id: 1 });
    await bridge.publishChange({ resource: 'books', action: 'create', id: 2 });
    await until(() => client.changes.length > 0);
    expect(client.changes).toEqual(['books:2']);
  });

  it('keeps private unscoped resources from plain clients and unauthorised ones', async () => {
    const bridge = await startBridge(cleanups, { privateResources: ['audit'], authorize: ({ auth }) => auth.token === 'admin' });
    const admin = startClient(cleanups, bridge.url, { auth: { token: 'admin' } });
    admin.subscribe('audit');
    const legacy = plainClient(bridge.url);
    await until(() => admin.live.state === 'connected' && legacy.socket.connected);
    await bridge.publishChange({ resource: 'audit', action: 'create', id: 1 });
    await bridge.publishChange({ resource: 'books', action: 'create', id: 2 });
    await until(() => legacy.changes.includes('books:2') && admin.changes.includes('audit:1'));
    expect(legacy.changes).toEqual(['books:2']);
    expect(admin.changes).toEqual(['audit:1']); // did not subscribe to books
  });
});

describe('authUrl', () => {
  it('POSTs { socket_id, resource, scope } with the cookie and the token as a bearer', async () => {
    const app = await startAuthApp(cleanups, { A: ['orders#user:42', 'audit'] });
    const bridge = await startBridge(cleanups, { authUrl: app.url, privateResources: ['audit'] });
    const client = startClient(cleanups, bridge.url, { auth: { token: 'A' }, socketOptions: { transports: ['websocket'], extraHeaders: { cookie: 'session=s1' } } });
    client.subscribe('orders', 'user:42');
    client.subscribe('audit');
    client.subscribe('books'); // public: the app is not asked
    await until(() => client.live.state === 'connected' && app.calls.length === 2);
    const bodies = app.calls.map((call) => call.body).sort((a, b) => String(a.resource).localeCompare(String(b.resource)));
    const socketId = bodies[0]?.socket_id;
    expect(typeof socketId).toBe('string');
    expect(bodies).toEqual([
      { socket_id: socketId, resource: 'audit', scope: null },
      { socket_id: socketId, resource: 'orders', scope: 'user:42' },
    ]);
    for (const { headers } of app.calls) {
      expect(headers.cookie).toBe('session=s1');
      expect(headers.authorization).toBe('Bearer A');
      expect(headers['content-type']).toBe('application/json');
    }
  });

  it('still sends the handshake cookie once the connection let go of its first HTTP request (long-polling)', async () => {
    const app = await startAuthApp(cleanups, { A: ['orders#user:42'] });
    const bridge = await startBridge(cleanups, { authUrl: app.url });
    const client = startClient(cleanups, bridge.url, { auth: { token: 'A' }, socketOptions: { transports: ['polling'], extraHeaders: { cookie: 'session=s1' } } });
    await until(() => client.live.state === 'connected');
    const [socket] = [...bridge.io.of('/').sockets.values()];
    expect(socket?.request).toBeNull();
    client.subscribe('orders', 'user:42'); // after the handshake: the authoriser reads socket.handshake
    await until(() => app.calls.length === 1);
    expect(app.calls[0]?.headers.cookie).toBe('session=s1');
    expect(client.errors).toEqual([]);
  });

  it('reports an auth service that fails or hangs as subscribe-failed (unavailable), not forbidden', async () => {
    const app = await startAuthApp(cleanups, {});
    app.status = 500;
    const bridge = await startBridge(cleanups, { authUrl: app.url, authTimeoutMs: 300 });
    const client = startClient(cleanups, bridge.url);
    client.subscribe('orders', 'user:1');
    await until(() => client.errors.length === 1);
    expect(client.errors[0]).toMatchObject({ code: 'subscribe-failed', resource: 'orders', scope: 'user:1' });
    expect(client.errors[0]?.message).toContain('unavailable');

    app.status = 200;
    app.delayMs = 2000; // past authTimeoutMs
    client.subscribe('orders', 'user:2');
    await until(() => client.errors.length === 2);
    expect(client.errors[1]).toMatchObject({ code: 'subscribe-failed', scope: 'user:2' });
  });

  it('accepts the connection of a long private list even when the auth service hangs, refusing the undecided as unavailable', async () => {
    const app = await startAuthApp(cleanups, {});
    app.delayMs = 60_000; // never answers in time
    const bridge = await startBridge(cleanups, { authUrl: app.url, authTimeoutMs: 100 });
    const client = startClient(cleanups, bridge.url);
    for (let user = 0; user < 40; user++) client.subscribe('orders', `user:${user}`); // five rounds of eight requests
    client.subscribe('books');
    await until(() => client.errors.length === 40);
    expect(client.codes().filter((code) => code.startsWith('subscribe-failed:orders#user:'))).toHaveLength(40); // and books was not held up
    await bridge.publishChange({ resource: 'books', action: 'create', id: 1 });
    await until(() => client.changes.length === 1);
    expect(client.live.state).toBe('connected');
  });

  it('asks again on every reconnect, with the token the auth callback returns then', async () => {
    const app = await startAuthApp(cleanups, { fresh: ['orders#user:42'] });
    const bridge = await startBridge(cleanups, { authUrl: app.url });
    let token = 'expired';
    const client = startClient(cleanups, bridge.url, { auth: (callback) => callback({ token }) });
    client.subscribe('orders', 'user:42');
    await until(() => client.errors.length === 1);
    expect(client.codes()).toEqual(['forbidden:orders#user:42']);
    await bridge.publishChange({ resource: 'orders', action: 'update', id: 1, scope: 'user:42' });

    token = 'fresh';
    client.established();
    bridge.io.local.disconnectSockets(true); // e.g. a deploy: the client reconnects on its own
    await until(() => app.calls.length === 2 && client.live.state === 'connected');
    await bridge.publishChange({ resource: 'orders', action: 'update', id: 2, scope: 'user:42' });
    await until(() => client.changes.length > 0);
    expect(client.changes).toEqual(['orders#user:42:2']);
    expect(app.calls.map((call) => call.headers.authorization)).toEqual(['Bearer expired', 'Bearer fresh']);
  });
});

describe('signed tokens', () => {
  const secret = 'a-secret-of-at-least-16-chars';

  it('allows exactly the grants of an unexpired token, and an expired one is refreshed on reconnect', async () => {
    const bridge = await startBridge(cleanups, { authorize: createTokenAuthorizer({ secret }) });
    const now = Math.floor(Date.now() / 1000);
    let token = signToken({ sub: '42', grants: ['orders#user:42'], exp: now - 1 }, secret);
    const client = startClient(cleanups, bridge.url, { auth: (callback) => callback({ token }) });
    client.subscribe('orders', 'user:42');
    await until(() => client.errors.length === 1);
    expect(client.codes()).toEqual(['forbidden:orders#user:42']);

    token = signToken({ sub: '42', grants: ['orders#user:42'], exp: now + 3600 }, secret);
    client.established();
    bridge.io.local.disconnectSockets(true);
    await until(() => client.live.status.reason === 'reconnected');
    client.subscribe('orders', 'user:43'); // not granted
    await until(() => client.errors.length === 2);
    await bridge.publishChange({ resource: 'orders', action: 'update', id: 1, scope: 'user:43' });
    await bridge.publishChange({ resource: 'orders', action: 'update', id: 2, scope: 'user:42' });
    await until(() => client.changes.length > 0);
    expect(client.changes).toEqual(['orders#user:42:2']);
    expect(client.codes()).toEqual(['forbidden:orders#user:42', 'forbidden:orders#user:43']);
  });

  it('refuses a token signed with another secret', async () => {
    const bridge = await startBridge(cleanups, { authorize: createTokenAuthorizer({ secret }) });
    const forged = signToken({ grants: ['orders#user:42'], exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-16-chars');
    const client = startClient(cleanups, bridge.url, { auth: { token: forged } });
    client.subscribe('orders', 'user:42');
    await until(() => client.errors.length === 1);
    expect(client.codes()).toEqual(['forbidden:orders#user:42']);
  });
});

describe('legacy clients', () => {
  it('a plain client that starts speaking the protocol leaves the broadcast', async () => {
    const bridge = await startBridge(cleanups);
    const { socket, changes } = plainClient(bridge.url);
    await until(() => socket.connected);
    const reply = await socket.timeout(2000).emitWithAck('lu:subscribe', { resource: 'authors' });
    expect(reply).toEqual({ ok: true, epoch: expect.any(String), offset: 0 });
    await bridge.publishChange({ resource: 'books', action: 'create', id: 1 });
    await bridge.publishChange({ resource: 'authors', action: 'create', id: 2 });
    await until(() => changes.length > 0);
    expect(changes).toEqual(['authors:2']);
  });
});

describe('batched subscribes', () => {
  it('100 subscriptions made at once on a live connection go as one batch: no rate limit, all live, one load each', async () => {
    const bridge = await startBridge(cleanups);
    const client = startClient(cleanups, bridge.url);
    await until(() => client.live.state === 'connected');
    let events = 0;
    for (const socket of bridge.io.sockets.sockets.values()) socket.onAny((event: string) => event === 'lu:subscribe' && events++);
    const loads: string[] = [];
    const handles = Array.from({ length: 100 }, (_, i) => client.live.subscribe(`r${i}`, () => {}, { refetch: ({ resource }) => void loads.push(resource) }));
    await Promise.all(handles.map((handle) => handle.ready));
    expect(events).toBe(1);
    expect(client.errors).toEqual([]);
    expect(loads).toHaveLength(100);
    const got = new Promise((resolve) => client.live.subscribe('r99', resolve));
    await bridge.publishChange({ resource: 'r99', action: 'create', id: 1 });
    expect(await got).toMatchObject({ resource: 'r99', id: 1 });
  });
});
