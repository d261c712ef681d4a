// The facade against a real socket.io v4 server in this process; browser signals are fired by hand.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveUpdates, type LiveUpdates, type LiveUpdatesOptions, type RefetchContext } from '../src';
import { startBlackholeProxy } from '../e2e/fixtures/blackhole-proxy';
import { KICK_WINDOW_MS } from '../src/reconnect-policy';
import { createFakeClock, createShiftedClock } from './helpers/fake-clock';
import { createManualSignals } from './helpers/manual-signals';
import { next, startServer, until } from './helpers/server';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(serverOptions: Parameters<typeof startServer>[0] = {}, clientOptions: LiveUpdatesOptions = {}) {
  const server = await startServer(serverOptions);
  cleanups.push(server.close);
  const signals = createManualSignals();
  const clock = createShiftedClock();
  const live = createLiveUpdates({
    url: server.url,
    refetchSpreadMs: 0,
    socketOptions: { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200 },
    environment: { clock, signals: signals.source },
    ...clientOptions,
  });
  cleanups.push(() => live.close());
  const states: string[] = [`${live.state}:${live.status.reason}`];
  const errors: string[] = [];
  const refetches: RefetchContext['reason'][] = [];
  live.onStateChange((state, info) => states.push(`${state}:${info.reason}`));
  live.onError((error) => errors.push(error.code));
  /** Connected, and the connection older than the kick window: a drop now is a gap, not a kick. */
  const established = async () => {
    await connected(live);
    clock.skip(KICK_WINDOW_MS);
  };
  return { server, live, signals, states, errors, refetches, clock, established };
}

const connected = (live: LiveUpdates) => until(() => live.state === 'connected');

describe('createLiveUpdates against a real socket.io server', () => {
  it('routes changes in order, accepts JSON strings, drops garbage with typed errors', async () => {
    const { server, live, errors } = await setup();
    const log: unknown[] = [];
    live.subscribe('books', (change) => log.push(change.id));
    live.subscribe('books', () => {
      throw new Error('a broken handler');
    });
    live.subscribe('books', (change) => log.push(`second:${change.id}`));
    await connected(live);
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    server.io.emit('rt-change', '{"resource":"books","action":"update","id":2,"obj":{"title":"x"}}');
    server.io.emit('rt-change', { resource: 'authors', action: 'create', id: 3 });
    server.io.emit('rt-change', 'not json');
    server.io.emit('rt-change', { resource: 'books', action: 'explode', id: 4 });
    server.io.emit('rt-change', { resource: '__proto__', action: 'create', id: 5, obj: { polluted: true } });
    server.io.emit('rt-change', { resource: 'books', action: 'destroy', id: 6 });
    await until(() => log.includes('second:6'));
    expect(log).toEqual([1, 'second:1', 2, 'second:2', 6, 'second:6']);
    expect(errors).toEqual(['handler-error', 'handler-error', 'invalid-message', 'invalid-message', 'handler-error']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(live.state).toBe('connected');
  });

  it('status is one object between changes (a stable snapshot for useSyncExternalStore), the one listeners got', async () => {
    const { server, live, established } = await setup();
    const infos: unknown[] = [];
    live.onStateChange((_state, info) => infos.push(info));
    await connected(live);
    const snapshot = live.status;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(live.status).toBe(snapshot);
    expect(infos.at(-1)).toBe(snapshot);
    established();
    server.io.disconnectSockets();
    await until(() => live.state !== 'connected');
    expect(live.status).not.toBe(snapshot);
    expect(live.status).toBe(infos.at(-1));
  });

  it('announces each new version once, ignores repeats, rollbacks and blanks', async () => {
    const { server, live, errors } = await setup();
    let version = 'v1';
    server.io.on('connection', (socket) => socket.emit('app-version', version));
    const notices: string[] = [];
    live.onNewVersion(({ current, latest }) => notices.push(`${current}->${latest}`));
    await connected(live);
    await until(() => live.version === 'v1');
    for (const v of ['v1', '', null, 'v2', 'v2', 'v1', 'v3', { version: 'v3' }]) server.io.emit('app-version', v);
    server.io.emit('app-version', true);
    await until(() => errors.includes('invalid-version'));
    expect(notices).toEqual(['v1->v2', 'v1->v3']);
    // A deploy that happened while the client was away is announced on reconnect.
    version = 'v4';
    server.io.disconnectSockets();
    await until(() => notices.length === 3);
    expect(notices[2]).toBe('v1->v4');
    // A listener added later hears the pending notice.
    const late = await new Promise((resolve) => live.onNewVersion(resolve));
    expect(late).toEqual({ current: 'v1', latest: 'v4', required: false });
  });

  it('takes currentVersion as the running version', async () => {
    const { server, live } = await setup({}, { currentVersion: 'build-7' });
    server.io.on('connection', (socket) => socket.emit('app-version', 'build-8'));
    const notices = await new Promise((resolve) => live.onNewVersion(resolve));
    expect(notices).toEqual({ current: 'build-7', latest: 'build-8', required: false });
  });

  it('reconnects after the server disconnects it and refetches once', async () => {
    const { server, live, states, established } = await setup();
    const refetches: string[] = [];
    await live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) }).ready;
    await established();
    server.io.disconnectSockets();
    await until(() => refetches.length === 2);
    await connected(live);
    expect(refetches).toEqual(['subscribed', 'server-disconnect']);
    expect(states[0]).toBe('connecting:start');
    expect(states).toContain('connected:connected');
    expect(states).toContain('reconnecting:server-disconnect');
    expect(states.at(-1)).toBe('connected:reconnected');
  });

  it('refetches after a transport loss, and after a server restart on the same port', async () => {
    const { server, live, established } = await setup();
    const refetches: string[] = [];
    await live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) }).ready;
    await established();
    server.io.sockets.sockets.forEach((socket) => socket.conn.close());
    await until(() => refetches.length === 2);
    expect(refetches).toEqual(['subscribed', 'transport-close']);

    await established();
    await server.close();
    await until(() => live.state !== 'connected');
    const restarted = await startServer({}, server.port);
    cleanups.push(restarted.close);
    await until(() => refetches.length === 3);
    expect(live.state).toBe('connected');
  });

  it('does not refetch when socket.io recovered the session, and delivers what was missed', async () => {
    const { server, live, states, established } = await setup({ connectionStateRecovery: { maxDisconnectionDuration: 10_000 } });
    const refetches: string[] = [];
    const log: unknown[] = [];
    await live.subscribe('books', (change) => log.push(change.id), { refetch: ({ reason }) => void refetches.push(reason) }).ready;
    await established();
    // Recovery needs a stored offset: one message before the drop.
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    await until(() => log.length === 1);
    server.io.sockets.sockets.forEach((socket) => socket.conn.close());
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 2 });
    await until(() => states.at(-1) === 'connected:recovered');
    await until(() => log.length === 2);
    expect(log).toEqual([1, 2]);
    expect(refetches).toEqual(['subscribed']);
  });

  it('drops the link when the browser goes offline and comes back at once when online', async () => {
    const { server, live, signals, states } = await setup();
    const refetches: string[] = [];
    await live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) }).ready;
    const before = server.connections();
    signals.fire('offline');
    expect(live.state).toBe('offline');
    signals.fire('online');
    await until(() => refetches.length === 2);
    expect(refetches).toEqual(['subscribed', 'offline']);
    expect(server.connections()).toBe(before + 1);
    expect(states).toContain('offline:offline');
  });

  it('counts a transport that closed just before the offline event as an offline gap', async () => {
    // engine.io-client closes its transport on `offline` itself, before our listener runs.
    const { server, live, signals, established } = await setup();
    const refetches: string[] = [];
    await live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) }).ready;
    await established();
    const dropped = new Promise((resolve) => live.onStateChange((state) => state === 'reconnecting' && resolve(state)));
    server.io.sockets.sockets.forEach((socket) => socket.conn.close());
    await dropped;
    signals.fire('offline');
    expect(live.status).toMatchObject({ state: 'offline', reason: 'offline' });
    signals.fire('online');
    await until(() => refetches.length === 2);
    expect(refetches).toEqual(['subscribed', 'offline']);
  });

  it('keeps a healthy link on wake, tab show, resume and restore', async () => {
    const server = await startServer();
    cleanups.push(server.close);
    const socket = connect(server.url, { transports: ['websocket'], forceNew: true });
    cleanups.push(() => socket.disconnect());
    await next(socket, 'connect');
    // Every probe is answered by the server with a CONNECT_ERROR for the probe namespace.
    let answers = 0;
    socket.io.on('packet', (packet: { type: number; nsp: string }) => {
      if (packet.nsp === '/live-updates-probe' && packet.type === 4) answers++;
    });
    const clock = createFakeClock(Date.now());
    const signals = createManualSignals();
    const live = createLiveUpdates({ socket, probeTimeoutMs: 500, environment: { clock, signals: signals.source } });
    cleanups.push(() => live.close());
    const refetches: string[] = [];
    live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) });
    const before = server.connections();
    for (const [i, signal] of (['wake', 'visible', 'resume', 'restore', 'network-change'] as const).entries()) {
      signals.fire(signal);
      await until(() => answers === i + 1);
      clock.advance(10_000); // far past the probe timeout: the answered probe must not fire
    }
    expect(server.connections()).toBe(before);
    expect(socket.connected).toBe(true);
    expect(refetches).toEqual(['subscribed']); // once, when it became live: no gap since
    expect(live.status).toMatchObject({ state: 'connected', reason: 'connected' });
  });

  it('declares the link dead when the probe is not answered in time', async () => {
    const server = await startServer();
    cleanups.push(server.close);
    const proxy = await startBlackholeProxy(server.port);
    cleanups.push(proxy.close);
    const clock = createFakeClock(Date.now());
    const signals = createManualSignals();
    const live = createLiveUpdates({ url: proxy.url, refetchSpreadMs: 0, probeTimeoutMs: 500, socketOptions: { transports: ['websocket'] }, environment: { clock, signals: signals.source } });
    cleanups.push(() => live.close());
    const refetches: string[] = [];
    live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) });
    await connected(live);
    clock.advance(0); // the load when it became live
    expect(refetches).toEqual(['subscribed']);
    proxy.blackhole();
    signals.fire('wake');
    clock.advance(499);
    expect(live.state).toBe('connected');
    clock.advance(1);
    expect(live.status.reason).toBe('dead-link');
    await until(() => live.status.reason === 'reconnected');
    clock.advance(0); // a local gap: reloaded at once
    expect(refetches).toEqual(['subscribed', 'dead-link']);
    expect(live.status).toMatchObject({ state: 'connected', reason: 'reconnected' });
  });

  it('replaces a link that went silent during a sleep within the probe timeout, and refetches', async () => {
    const server = await startServer();
    cleanups.push(server.close);
    const proxy = await startBlackholeProxy(server.port);
    cleanups.push(proxy.close);
    const signals = createManualSignals();
    const live = createLiveUpdates({ url: proxy.url, refetchSpreadMs: 0, probeTimeoutMs: 300, socketOptions: { transports: ['websocket'] }, environment: { signals: signals.source } });
    cleanups.push(() => live.close());
    const refetched = new Promise<{ reason: string; at: number }>((resolve) => {
      const { ready } = live.subscribe('books', () => {}, { refetch: ({ reason }) => void (reason !== 'subscribed' && resolve({ reason, at: Date.now() })) });
      void ready.then(() => proxy.blackhole() && signals.fire('wake'));
    });
    const log: unknown[] = [];
    live.subscribe('books', (change) => log.push(change.id));
    await connected(live);
    const wokeAt = Date.now();
    const { reason, at } = await refetched;
    expect(reason).toBe('dead-link');
    expect(at - wokeAt).toBeGreaterThanOrEqual(300); // it waited for the probe, not less
    expect(live.state).toBe('connected');
    // The new link carries changes.
    server.io.emit('rt-change', { resource: 'books', action: 'update', id: 9 });
    await until(() => log.includes(9));
  });

  it('reconnects over WebSocket only after losing a WebSocket link, for a few attempts, then as socket.io would', async () => {
    const server = await startServer();
    const socket = connect(server.url, { forceNew: true, reconnectionDelay: 10, reconnectionDelayMax: 20 });
    cleanups.push(() => socket.disconnect());
    await new Promise((resolve) => socket.io.once('open', () => socket.io.engine.once('upgrade', resolve)));
    const own = socket.io.opts.transports;
    const live = createLiveUpdates({ socket, environment: { signals: createManualSignals().source } });
    cleanups.push(() => live.close());
    await server.close();
    await until(() => live.state === 'reconnecting');
    expect(socket.io.opts.transports).toEqual(['websocket']); // no long-polling on a pooled connection
    let attempts = 0;
    socket.io.on('reconnect_attempt', () => attempts++);
    await until(() => attempts >= 6);
    expect(socket.io.opts.transports).toEqual(own); // WebSockets may be blocked here: fall back
    const restarted = await startServer({}, server.port);
    cleanups.push(restarted.close);
    await connected(live);
    expect(socket.io.opts.transports).toEqual(own);
  });

  it('runs refetches when the bridge announces a resync', async () => {
    const { server, live } = await setup();
    const reasons: string[] = [];
    await live.subscribe('books', () => {}, { refetch: ({ reason }) => void reasons.push(reason) }).ready;
    server.io.emit('lu:resync', { reason: 'redis-reconnect' });
    await until(() => reasons.length === 2);
    expect(reasons).toEqual(['subscribed', 'server-resync']);
  });

  it('reports connection failures as errors and connects once the server is up', async () => {
    const probe = await startServer();
    const port = probe.port;
    await probe.close();
    const signals = createManualSignals();
    const live = createLiveUpdates({ url: `http://127.0.0.1:${port}`, socketOptions: { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 }, environment: { signals: signals.source } });
    cleanups.push(() => live.close());
    const firstError = await new Promise<string>((resolve) => live.onError((error) => resolve(error.code)));
    expect(firstError).toBe('connect-error');
    expect(live.state).toBe('connecting');
    const server = await startServer({}, port);
    cleanups.push(server.close);
    await connected(live);
    expect(live.status.reason).toBe('connected');
  });

  it('closes cleanly: state closed, listeners and signals detached, unsubscribes safe afterwards', async () => {
    const { server, live, signals, states } = await setup();
    const log: unknown[] = [];
    const off = live.subscribe('books', (change) => log.push(change.id));
    await connected(live);
    const [serverSide] = await server.io.fetchSockets();
    const disconnected = new Promise((resolve) => server.io.sockets.sockets.get(serverSide!.id)?.once('disconnect', resolve));
    live.close();
    await disconnected;
    expect(live.state).toBe('closed');
    expect(states.at(-1)).toBe('closed:closed');
    expect(signals.isAttached()).toBe(false);
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    off();
    live.close();
    expect(live.subscribe('books', () => {})).toBeTypeOf('function');
    expect(log).toEqual([]);
  });

  it('wraps an existing socket without owning it', async () => {
    const server = await startServer();
    cleanups.push(server.close);
    const socket = connect(server.url, { transports: ['websocket'], forceNew: true });
    cleanups.push(() => socket.disconnect());
    await next(socket, 'connect');
    const live = createLiveUpdates({ socket, environment: { signals: createManualSignals().source } });
    expect(live.state).toBe('connected');
    const log: unknown[] = [];
    live.subscribe('books', (change) => log.push(change.id));
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    await until(() => log.length === 1);
    live.close();
    expect(socket.connected).toBe(true);
  });

  it('throws for programmer errors only', () => {
    const signals = createManualSignals().source;
    expect(() => createLiveUpdates({ url: 'http://127.0.0.1:1', changeEvent: '', environment: { signals } })).toThrow(TypeError);
    expect(() => createLiveUpdates({ url: 'http://127.0.0.1:1', probeTimeoutMs: -1, environment: { signals } })).toThrow(/probeTimeoutMs/);
    // 0 would retry in a hot loop; past 2³¹−1 a timer fires at once.
    for (const refetchTimeoutMs of [0, 199, 3_000_000_000, Number.NaN]) {
      expect(() => createLiveUpdates({ url: 'http://127.0.0.1:1', refetchTimeoutMs, environment: { signals } })).toThrow(/refetchTimeoutMs/);
    }
    const live = createLiveUpdates({ url: 'http://127.0.0.1:1', socketOptions: { autoConnect: false }, environment: { signals } });
    cleanups.push(() => live.close());
    expect(() => live.subscribe('', () => {})).toThrow(TypeError);
  });
});
