// One connection for all tabs (shareTabs): the election and the fan-out, with the tabs of one
// "browser" faked (test/helpers/fake-tabs.ts: Web Locks with ifAvailable and steal, BroadcastChannels,
// visibility, lifecycle, a freeze that silences a tab both ways). First against a real socket.io
// server through the facade; then the shared link alone, with a fake clock and fake connections.
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveUpdates, type Change, type LiveUpdatesError, type RefetchContext } from '../src';
import type { StateInfo } from '../src/connection';
import type { Link, LinkHooks } from '../src/link';
import { keyOf } from '../src/subscriptions';
import { createSharedLink, HEARTBEAT_MS, SILENT_MS, STEAL_JITTER_MS, SUSPECT_MS, type SharedLinkHooks } from '../src/tabs';
import { createFakeBrowser } from './helpers/fake-tabs';
import { createFakeClock } from './helpers/fake-clock';
import { createManualSignals } from './helpers/manual-signals';
import { startServer, until } from './helpers/server';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('shareTabs, through the facade, against a real socket.io server', () => {
  async function setup(count: number, share = true) {
    const server = await startServer();
    cleanups.push(server.close);
    const browser = createFakeBrowser();
    const tabs = Array.from({ length: count }, () => {
      const tab = browser.tab();
      const live = createLiveUpdates({
        url: server.url,
        shareTabs: share,
        refetchSpreadMs: 0,
        socketOptions: { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 200 },
        environment: { signals: createManualSignals().source, tabs: share ? tab.environment : null },
      });
      cleanups.push(() => live.close());
      const changes: Array<string | number> = [];
      const refetches: RefetchContext['reason'][] = [];
      const errors: LiveUpdatesError[] = [];
      live.onError((error) => errors.push(error));
      live.subscribe('books', (change) => changes.push(change.id), { refetch: ({ reason }) => void refetches.push(reason) });
      return { tab, live, changes, refetches, errors };
    });
    return { server, browser, tabs };
  }
  /** The lock (and channel) name: the app's server, path and event names. */
  const lockName = (url: string): string => `live-updates:${url}|/socket.io|rt-change|app-version`;
  const open = (io: Awaited<ReturnType<typeof startServer>>['io']) => io.of('/').sockets.size;

  it('three tabs: one connection; a change reaches each tab once; each runs its own refetch', async () => {
    const { server, tabs } = await setup(3);
    await until(() => tabs.every(({ live, refetches }) => live.state === 'connected' && refetches.length === 1));
    expect(open(server.io)).toBe(1);
    expect(server.connections()).toBe(1);
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 2 });
    await until(() => tabs.every(({ changes }) => changes.length === 2));
    for (const { changes, refetches, errors } of tabs) {
      expect(changes).toEqual([1, 2]);
      expect(refetches).toEqual(['subscribed']);
      expect(errors).toEqual([]);
    }
  });

  it('without Web Locks or BroadcastChannel (tabs: null), each tab keeps its own connection', async () => {
    const { server, tabs } = await setup(3, false);
    await until(() => tabs.every(({ live }) => live.state === 'connected'));
    expect(open(server.io)).toBe(3);
  });

  it('the leader closes: another tab leads, the hand-over is a gap each tab reloads (a plain server has no log), nothing twice', async () => {
    const { server, browser, tabs } = await setup(3);
    await until(() => tabs.every(({ live, refetches }) => live.state === 'connected' && refetches.length === 1));
    const name = lockName(server.url);
    const leader = tabs.find(({ tab }) => browser.heldBy(name) === tab.id)!;
    const rest = tabs.filter((t) => t !== leader);
    leader.live.close();
    await until(() => rest.some(({ tab }) => browser.heldBy(name) === tab.id) && open(server.io) === 1);
    await until(() => rest.every(({ live, refetches }) => live.state === 'connected' && refetches.includes('hand-over')));
    server.io.emit('rt-change', { resource: 'books', action: 'update', id: 3 });
    await until(() => rest.every(({ changes }) => changes.length === 1));
    for (const { changes, refetches, errors } of rest) {
      expect(changes).toEqual([3]);
      expect(refetches).toEqual(['subscribed', 'hand-over']);
      expect(errors).toEqual([]);
    }
    expect(server.connections()).toBe(2);
  });

  it('scoped subscriptions stay private: each tab opens its own connection for them, and a scoped change never crosses tabs', async () => {
    const { server, tabs } = await setup(2);
    const scoped: Array<Array<string | number>> = [[], []];
    tabs.forEach(({ live }, i) => live.subscribe('orders', (change) => scoped[i]!.push(change.id), { scope: `user:${i}` }));
    await until(() => tabs.every(({ live }) => live.state === 'connected') && open(server.io) === 3);
    // A plain server broadcasts everything: what keeps a scope private here is the bridge's rooms,
    // which each tab's own connection joins with its own credentials. Between tabs, nothing travels.
    server.io.emit('rt-change', { resource: 'orders', action: 'create', id: 9, scope: 'user:0' });
    await until(() => scoped[0]!.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(scoped).toEqual([[9], []]);
  });

  it('a malformed message from another tab is an invalid-message error, and changes nothing', async () => {
    const { server, browser, tabs } = await setup(2);
    await until(() => tabs.every(({ live }) => live.state === 'connected'));
    const name = lockName(server.url);
    browser.inject(name, { t: 'change', from: 'forger', term: 999 });
    browser.inject(name, { t: 'gap', from: 'forger', term: 999, reason: 'no such reason', covered: [] });
    browser.inject(name, 'hello');
    await until(() => tabs.every(({ errors }) => errors.length === 3));
    for (const { errors, refetches } of tabs) {
      expect(errors.map((error) => error.code)).toEqual(['invalid-message', 'invalid-message', 'invalid-message']);
      expect(refetches).toEqual(['subscribed']);
    }
    server.io.emit('rt-change', { resource: 'books', action: 'create', id: 1 });
    await until(() => tabs.every(({ changes }) => changes.length === 1));
  });
});

describe('the shared link, with a fake clock and fake connections', () => {
  const NAME = 'live-updates:test';

  function fakeConnections() {
    const opened: Array<{ hooks: LinkHooks; extra: { handOver?: boolean }; closed: boolean; live: Set<string>; keys: string[] }> = [];
    const open = (hooks: LinkHooks, extra: { handOver?: boolean }): Link => {
      const connection = { hooks, extra, closed: false, live: new Set<string>(), keys: [] as string[] };
      opened.push(connection);
      let info: StateInfo = { state: 'connecting', reason: 'start', since: 0 };
      return {
        add(resource, scope) {
          const key = keyOf(resource, scope);
          connection.keys.push(key);
          return { key, release: () => void (connection.keys = connection.keys.filter((k) => k !== key)) };
        },
        isLive: (key) => connection.live.has(key),
        info: () => info,
        settling: () => false,
        signal() {},
        close() {
          connection.closed = true;
          info = { state: 'closed', reason: 'closed', since: 0 };
        },
      };
    };
    /** Brings connection `i` up with its keys live, as a socket link reports it. */
    const up = (i: number): void => {
      const connection = opened[i]!;
      connection.hooks.state({ state: 'connected', reason: 'connected', since: 0 });
      for (const key of connection.keys) {
        connection.live.add(key);
        connection.hooks.live(key);
      }
    };
    return { opened, open, up };
  }

  function tabWith(browser: ReturnType<typeof createFakeBrowser>, clock: ReturnType<typeof createFakeClock>, connections: ReturnType<typeof fakeConnections>) {
    const tab = browser.tab();
    const log: string[] = [];
    const changes: Change[] = [];
    const hooks: SharedLinkHooks = {
      change: (change) => void changes.push(change),
      state: (info) => void log.push(`state ${info.state}:${info.reason}`),
      version: (payload) => void log.push(`version ${String(payload)}`),
      live: (key) => void log.push(`live ${key}`),
      unlive: (key) => void log.push(`unlive ${key}`),
      lost: () => void log.push('lost'),
      gap: (reason, covered) => (log.push(`gap ${reason} covered ${[...covered].join(',')}`), 1),
      recovered: () => void log.push('recovered'),
      refused: (refusal) => void log.push(`refused ${refusal.code}`),
      slot: (delayMs) => void log.push(`slot ${delayMs}`),
      report: (error) => void log.push(`error ${error.code}`),
    };
    const link = createSharedLink({ tabs: tab.environment, name: NAME, clock, open: connections.open }, hooks);
    const subscription = link.add('books', undefined);
    return { tab, link, log, changes, subscription };
  }

  /** Lets the fake channels (a task each) and locks (microtasks) run. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  };
  const BOOKS = keyOf('books', undefined);

  async function threeTabs() {
    const browser = createFakeBrowser();
    // One clock per tab, moved together, except a frozen tab's: a suspended renderer runs no timer.
    const clocks = [createFakeClock(), createFakeClock(), createFakeClock()] as const;
    const stopped = new Set<number>();
    const clock = {
      advance: (ms: number) => clocks.forEach((one, i) => (stopped.has(i) ? one.jump(ms) : one.advance(ms))),
      stop: (i: number) => void stopped.add(i),
      start: (i: number) => void stopped.delete(i),
    };
    const connections = fakeConnections();
    const tabs = [tabWith(browser, clocks[0], connections)];
    await settle();
    tabs.push(tabWith(browser, clocks[1], connections), tabWith(browser, clocks[2], connections));
    await settle();
    clock.advance(200); // the leader gathers the lists, then connects
    await settle();
    expect(connections.opened).toHaveLength(1);
    connections.up(0);
    await settle();
    for (const tab of tabs) cleanups.push(() => tab.link.close());
    return { browser, clock, connections, tabs };
  }

  it('one tab leads and connects for all; the others hold no lock request and hear its changes, state and versions', async () => {
    const { browser, connections, tabs } = await threeTabs();
    expect(browser.heldBy(NAME)).toBe(tabs[0]!.tab.id);
    expect(connections.opened[0]!.keys).toEqual([BOOKS]);
    connections.opened[0]!.hooks.change({ resource: 'books', action: 'create', id: 1, offset: 1, epoch: 'e' });
    connections.opened[0]!.hooks.version('v2', 'test', 'socket');
    await settle();
    for (const { changes, log, link } of tabs) {
      expect(changes.map((c) => c.id)).toEqual([1]);
      expect(log).toContain(`live ${BOOKS}`);
      expect(log).toContain('version v2');
      expect(link.info().state).toBe('connected');
      expect(link.isLive(BOOKS)).toBe(true);
    }
  });

  it('a silent (frozen) leader: a visible follower steals the lock, a hidden one does not; the old leader, thawed, steps down and delivers nothing', async () => {
    const { browser, clock, connections, tabs } = await threeTabs();
    const [old, visible, hidden] = tabs as [(typeof tabs)[0], (typeof tabs)[0], (typeof tabs)[0]];
    hidden.tab.setVisible(false);
    old.tab.freeze();
    clock.stop(0);
    for (let t = 0; t < SILENT_MS + STEAL_JITTER_MS + 500; t += 250) {
      clock.advance(250);
      await settle();
    }
    expect(browser.heldBy(NAME), JSON.stringify([visible.log, hidden.log])).toBe(visible.tab.id);
    clock.advance(200);
    await settle();
    expect(connections.opened).toHaveLength(2);
    expect(connections.opened[1]!.extra.handOver).toBe(true);
    connections.up(1);
    connections.opened[1]!.hooks.gap('hand-over', new Set());
    await settle();
    for (const tab of [visible, hidden]) expect(tab.log.filter((line) => line.startsWith('gap'))).toEqual(['gap hand-over covered ']);

    // Thawed: the old leader's socket hands over what it took in while frozen, before it knows.
    old.tab.thaw();
    clock.start(0);
    connections.opened[0]!.hooks.change({ resource: 'books', action: 'update', id: 2 });
    await settle();
    expect(connections.opened[0]!.closed).toBe(true);
    connections.opened[1]!.hooks.change({ resource: 'books', action: 'update', id: 2 });
    await settle();
    for (const tab of tabs) expect(tab.changes.map((c) => c.id)).toEqual([2]);
    expect(browser.heldBy(NAME)).toBe(visible.tab.id);
  });

  it('two leaders overlapping deliver nothing twice: by log offset, and, without one, by content across leaders (one leader twice is two changes)', async () => {
    const { clock, connections, tabs } = await threeTabs();
    const leader = connections.opened[0]!.hooks;
    leader.change({ resource: 'books', action: 'update', id: 1, offset: 1, epoch: 'e' });
    leader.change({ resource: 'books', action: 'update', id: 1, offset: 1, epoch: 'e' });
    leader.change({ resource: 'books', action: 'update', id: 2 });
    leader.change({ resource: 'books', action: 'update', id: 2 });
    await settle();
    // Another leader takes over and hands the same over again.
    tabs[0]!.link.close();
    await settle();
    for (let t = 0; t < 1000 && connections.opened.length < 2; t += 50) {
      clock.advance(50);
      await settle();
    }
    const next = connections.opened[1]!.hooks;
    next.change({ resource: 'books', action: 'update', id: 1, offset: 1, epoch: 'e' });
    next.change({ resource: 'books', action: 'update', id: 2 });
    next.change({ resource: 'books', action: 'update', id: 3, offset: 2, epoch: 'e' });
    await settle();
    for (const tab of tabs.slice(1)) expect(tab.changes.map((c) => c.id)).toEqual([1, 2, 2, 3]);
  });

  it('pagehide: the leader lets go of its lock and closes its channel; another leads; restored, it rejoins and reloads (hand-over)', async () => {
    const { browser, clock, connections, tabs } = await threeTabs();
    const [first, second] = tabs as [(typeof tabs)[0], (typeof tabs)[0]];
    first.tab.lifecycle('hide');
    await settle();
    expect(first.tab.openChannels()).toBe(0);
    expect(first.tab.holdsLock(NAME)).toBe(false);
    expect(connections.opened[0]!.closed).toBe(true);
    for (let t = 0; t < 1000 && connections.opened.length < 2; t += 50) {
      clock.advance(50);
      await settle();
    }
    expect(browser.heldBy(NAME)).toBe(second.tab.id);
    connections.up(1);
    connections.opened[1]!.hooks.gap('hand-over', new Set([BOOKS]));
    await settle();

    first.tab.lifecycle('restore');
    await settle();
    expect(first.tab.openChannels()).toBe(1);
    clock.advance(HEARTBEAT_MS);
    await settle();
    expect(first.log.slice(-3)).toEqual(['state connected:connected', `live ${BOOKS}`, 'gap hand-over covered ']);
    expect(first.link.isLive(BOOKS)).toBe(true);
  });

  it('a leader that closes without a word (crash): a follower finds the lock free within SUSPECT_MS and leads', async () => {
    const { browser, clock, tabs } = await threeTabs();
    tabs[0]!.tab.freeze(); // no resign, no bye: gone
    tabs[0]!.link.close();
    await settle();
    for (let t = 0; t < SUSPECT_MS + 500 && browser.heldBy(NAME) === null; t += 250) {
      clock.advance(250);
      await settle();
    }
    expect([tabs[1]!.tab.id, tabs[2]!.tab.id]).toContain(browser.heldBy(NAME));
  });
});
