// The subscription protocol against a real socket.io server that plays the bridge's part.
import type { Socket as ServerSocket } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveUpdates, type LiveUpdatesOptions } from '../src';
import { createFakeClock } from './helpers/fake-clock';
import { createManualSignals } from './helpers/manual-signals';
import { startServer, until } from './helpers/server';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Sub = { resource: string; scope?: string };

/** A minimal bridge: reads the handshake list, greets, answers subscribe (refusing `forbidden`-prefixed scopes). */
async function startFakeBridge({ greet = true, helloDelayMs = 0 } = {}) {
  const server = await startServer();
  cleanups.push(server.close);
  const log: string[] = [];
  const auths: Array<Record<string, unknown>> = [];
  server.io.on('connection', (socket: ServerSocket) => {
    const auth = socket.handshake.auth as { lu?: { subs: Sub[] } } & Record<string, unknown>;
    auths.push(auth);
    const denied = (auth.lu?.subs ?? []).filter((sub) => sub.scope?.startsWith('forbidden')).map((sub) => ({ ...sub, code: 'forbidden' }));
    if (greet) setTimeout(() => socket.emit('lu:hello', { v: 1, denied }), helloDelayMs);
    socket.onAny((event: string, payload: Sub, ack?: (reply: unknown) => void) => {
      log.push(`${event}:${payload.resource}${payload.scope ? `#${payload.scope}` : ''}`);
      if (event === 'lu:subscribe') ack?.(payload.scope?.startsWith('forbidden') ? { ok: false, code: 'forbidden', message: 'not yours' } : { ok: true });
    });
  });
  return { ...server, log, auths };
}

function client(url: string, options: LiveUpdatesOptions = {}) {
  const live = createLiveUpdates({ url, socketOptions: { transports: ['websocket'], reconnectionDelay: 20 }, environment: { signals: createManualSignals().source }, ...options });
  cleanups.push(() => live.close());
  const errors: string[] = [];
  live.onError((error) => errors.push(`${error.code}:${error.resource}${error.scope ? `#${error.scope}` : ''}`));
  return { live, errors };
}

describe('subscriptions', () => {
  it('sends the subscription list in every handshake, merged into the app auth, asked again each time', async () => {
    const bridge = await startFakeBridge();
    let token = 0;
    const { live } = client(bridge.url, { auth: (cb) => cb({ token: `t${++token}` }) });
    live.subscribe('books', () => {});
    live.subscribe('orders', () => {}, { scope: 'user:42' });
    live.subscribe('orders', () => {}, { scope: 'user:42' }); // counted once
    await until(() => bridge.auths.length === 1);
    bridge.io.disconnectSockets();
    await until(() => bridge.auths.length === 2);
    expect(bridge.auths).toEqual([
      { token: 't1', lu: { v: 1, subs: [{ resource: 'books' }, { resource: 'orders', scope: 'user:42' }] } },
      // Back from a gap every client of the server shared: it asks the bridge for a refetch slot.
      { token: 't2', lu: { v: 1, subs: [{ resource: 'books' }, { resource: 'orders', scope: 'user:42' }], refetch: true } },
    ]);
    expect(bridge.log).toEqual([]); // all went in the handshake
  });

  it('subscribes and unsubscribes live once greeted, and reports refusals as forbidden', async () => {
    const bridge = await startFakeBridge();
    const { live, errors } = client(bridge.url);
    live.subscribe('orders', () => {}, { scope: 'forbidden:1' }); // in the handshake: denied in the greeting
    await until(() => live.state === 'connected' && errors.length === 1);
    const offBooks = live.subscribe('books', () => {});
    live.subscribe('orders', () => {}, { scope: 'forbidden:2' });
    await until(() => errors.length === 2);
    offBooks();
    await until(() => bridge.log.length === 3);
    expect(bridge.log).toEqual(['lu:subscribe:books', 'lu:subscribe:orders#forbidden:2', 'lu:unsubscribe:books']);
    expect(errors).toEqual(['forbidden:orders#forbidden:1', 'forbidden:orders#forbidden:2']);
  });

  it('asks again, with backoff, after a passing refusal (unavailable), never after forbidden; loads once accepted', async () => {
    const server = await startServer();
    cleanups.push(server.close);
    let answers = ['unavailable', 'unavailable', 'ok'];
    const asked: string[] = [];
    server.io.on('connection', (socket: ServerSocket) => {
      socket.emit('lu:hello', { v: 1, denied: [] });
      socket.on('lu:subscribe', (payload: Sub, ack: (reply: unknown) => void) => {
        asked.push(payload.scope ?? payload.resource);
        if (payload.scope === 'forbidden') return ack({ ok: false, code: 'forbidden' });
        const answer = answers.shift() ?? 'ok';
        ack(answer === 'ok' ? { ok: true } : { ok: false, code: answer });
      });
    });
    const clock = createFakeClock(Date.now());
    const { live, errors } = client(server.url, { environment: { clock, signals: createManualSignals().source } });
    await until(() => live.state === 'connected');
    clock.advance(0);
    const loads: string[] = [];
    const { ready } = live.subscribe('orders', () => {}, { scope: 'user:42', refetch: ({ reason }) => void loads.push(reason) });
    live.subscribe('orders', () => {}, { scope: 'forbidden' });
    await until(() => errors.length === 2); // the first unavailable, and forbidden
    expect(asked.sort()).toEqual(['forbidden', 'user:42']);
    clock.advance(1000); // the first retry, within 1 s × [0.5, 1)
    await until(() => errors.length === 3);
    clock.advance(2000); // the second, within 2 s × [0.5, 1)
    await until(() => asked.length === 4);
    // Once the acknowledgement is in, the load is due at once (on the fake clock).
    await until(() => {
      clock.advance(0);
      return loads.length === 2;
    });
    await ready;
    // Not live 1 s after it was made: loaded for first paint; then again once the bridge accepted it.
    expect(loads).toEqual(['subscribed', 'subscribed']);
    expect(asked.filter((name) => name === 'forbidden')).toHaveLength(1);
    expect(errors).toEqual(['subscribe-failed:orders#user:42', 'forbidden:orders#forbidden', 'subscribe-failed:orders#user:42']);
    answers = [];
  });

  it('a subscription refused for good loads no more, not even at the next connection before its verdict', async () => {
    const bridge = await startFakeBridge({ helloDelayMs: 100 }); // the verdict comes a little after the connect
    const { live, errors } = client(bridge.url);
    const loads: string[] = [];
    live.subscribe('orders', () => {}, { scope: 'forbidden:1', refetch: ({ reason }) => void loads.push(reason) });
    await until(() => errors.length === 1);
    const before = loads.length; // at most the one at the first connect, before the verdict
    bridge.io.disconnectSockets();
    await until(() => errors.length === 2); // refused again by the next connection's greeting
    await until(() => live.state === 'connected');
    expect(before).toBe(1); // the first connection could not know
    expect(loads).toHaveLength(1);
  });

  it('a subscription released and made again in one task (a remount, StrictMode) stays live and loads', async () => {
    const bridge = await startFakeBridge();
    const { live } = client(bridge.url);
    await until(() => live.state === 'connected');
    const off = live.subscribe('books', () => {}, { refetch: () => {} });
    await off.ready;
    off();
    const loads: string[] = [];
    const again = live.subscribe('books', () => {}, { refetch: ({ reason }) => void loads.push(reason) });
    await again.ready; // live at once: the room was never left
    expect(loads).toEqual(['subscribed']);
    expect(bridge.log).toEqual(['lu:subscribe:books']); // nothing more sent for the remount
  });

  it('sends the net effect of the changes made in one task: a subscribe undone at once sends nothing', async () => {
    const bridge = await startFakeBridge();
    const { live } = client(bridge.url);
    await until(() => live.state === 'connected');
    for (let i = 0; i < 1000; i++) live.subscribe(`churn-${i % 10}`, () => {})();
    const offA = live.subscribe('a', () => {});
    live.subscribe('b', () => {});
    await until(() => bridge.log.length === 2);
    offA();
    live.subscribe('c', () => {});
    await until(() => bridge.log.length === 4);
    expect(bridge.log).toEqual(['lu:subscribe:a', 'lu:subscribe:b', 'lu:unsubscribe:a', 'lu:subscribe:c']);
  });

  it('sends nothing extra to a plain socket.io server', async () => {
    const plain = await startFakeBridge({ greet: false });
    const { live } = client(plain.url);
    await until(() => live.state === 'connected');
    const off = live.subscribe('books', () => {});
    off();
    live.subscribe('authors', () => {});
    plain.io.emit('rt-change', { resource: 'authors', action: 'create', id: 1 });
    const got = await new Promise((resolve) => live.subscribe('authors', resolve));
    expect(got).toMatchObject({ id: 1 });
    expect(plain.log).toEqual([]);
  });

  it('routes scoped changes to that scope only', async () => {
    const bridge = await startFakeBridge();
    const { live } = client(bridge.url);
    const log: string[] = [];
    live.subscribe('orders', (c) => log.push(`all:${c.id}`));
    live.subscribe('orders', (c) => log.push(`42:${c.id}`), { scope: 'user:42' });
    await until(() => live.state === 'connected');
    bridge.io.emit('rt-change', { resource: 'orders', action: 'create', id: 1, scope: 'user:42' });
    bridge.io.emit('rt-change', { resource: 'orders', action: 'create', id: 2, scope: 'user:7' });
    bridge.io.emit('rt-change', { resource: 'orders', action: 'create', id: 3 });
    await until(() => log.length === 2);
    expect(log).toEqual(['42:1', 'all:3']);
  });
});
