// live-updates/tanstack-query with a real QueryClient (@tanstack/query-core) and observers that
// keep queries active, against a real bridge in this process.
import { onlineManager, QueryClient, QueryObserver, type QueryKey } from '@tanstack/query-core';
import { afterEach, describe, expect, it } from 'vitest';
import { connectQueryClient } from '../src/tanstack-query';
import { countSubscriptions, createCleanups, startClient, startRecordingBridge, tick, until } from './helpers/adapters';

const cleanups = createCleanups();
afterEach(async () => {
  await cleanups.run();
  onlineManager.setOnline(true);
});

interface Book {
  id: number;
  title: string;
}

/** The app's API: books in a Map, every fetch logged; `hold()` makes the next fetches wait. */
function createApi() {
  const books = new Map<number, Book>([
    [1, { id: 1, title: 'one' }],
    [2, { id: 2, title: 'two' }],
  ]);
  const fetches: string[] = [];
  let gate: Promise<void> | null = null;
  let failures = 0;
  const answer = async <T>(what: string, value: () => T): Promise<T> => {
    fetches.push(what);
    const snapshot = value();
    if (gate) await gate;
    if (failures > 0) {
      failures--;
      throw new Error('503');
    }
    return snapshot;
  };
  return {
    books,
    fetches,
    list: () => answer('list', () => [...books.values()]),
    detail: (id: number) => answer(`detail ${id}`, () => books.get(id) ?? null),
    /** Fetches answer (with what they read when they started) once `release()` is called. */
    hold() {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = null;
        release();
      };
    },
    fail(times: number) {
      failures = times;
    },
  };
}

async function setup() {
  // Every scope allowed: the app's authorisation is not what these tests are about.
  const { bridge } = await startRecordingBridge(cleanups, { authorize: () => true });
  const { live, signals, errors: reported, established } = startClient(cleanups, `http://127.0.0.1:${bridge.port}`);
  const client = { live, signals, established, errors: () => reported.map((error) => error.code), connected: () => until(() => live.state === 'connected') };
  const counts = countSubscriptions(client.live);
  const api = createApi();
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  queryClient.mount();
  cleanups.add(() => queryClient.clear());
  cleanups.add(() => queryClient.unmount());
  /** An active query (an observer subscribed to it), as a mounted component holds one. */
  const observe = <T>(queryKey: QueryKey, queryFn: () => Promise<T>) => {
    const observer = new QueryObserver(queryClient, { queryKey, queryFn });
    cleanups.add(observer.subscribe(() => {}));
    return observer;
  };
  const data = (queryKey: QueryKey) => queryClient.getQueryData(queryKey);
  const idle = () => until(() => queryClient.isFetching() === 0);
  return { bridge, ...client, counts, api, queryClient, observe, data, idle };
}

describe('connectQueryClient', () => {
  it('puts a change into the cached detail, invalidates the lists, removes a destroyed detail', async () => {
    const { live, bridge, api, queryClient, observe, data, idle, connected } = await setup();
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
    cleanups.add(disconnect);
    observe(['books'], api.list);
    observe(['books', { page: 2 }], api.list);
    observe(['books', 1], () => api.detail(1));
    observe(['authors'], async () => ['nobody']);
    await connected();
    await disconnect.ready;
    await idle();
    api.fetches.length = 0;

    api.books.set(1, { id: 1, title: 'one, revised' });
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'one, revised' } });
    await until(() => (data(['books', 1]) as Book).title === 'one, revised');
    await idle();
    // The detail came from the change, not a fetch; both lists were fetched again.
    expect(api.fetches.sort()).toEqual(['list', 'list']);
    // A detail nobody has cached is not created.
    await bridge.publishChange({ resource: 'books', action: 'update', id: 2, obj: { id: 2, title: 'two, revised' } });
    await until(() => api.fetches.length === 4);
    expect(data(['books', 2])).toBeUndefined();

    api.books.delete(1);
    await bridge.publishChange({ resource: 'books', action: 'destroy', id: 1 });
    await until(() => queryClient.getQueryCache().find({ queryKey: ['books', 1], exact: true }) === undefined);
    await idle();
    expect((data(['books']) as Book[]).map((book) => book.id)).toEqual([2]);
    expect(data(['authors'])).toEqual(['nobody']);
  });

  it('a change without its record invalidates the detail; a change during a detail fetch wins over that fetch', async () => {
    const { live, bridge, api, queryClient, observe, data, idle, connected } = await setup();
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
    cleanups.add(disconnect);
    observe(['books', 1], () => api.detail(1));
    await connected();
    await disconnect.ready;
    await idle();
    api.fetches.length = 0;
    api.books.set(1, { id: 1, title: 'renamed' });
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1 });
    await until(() => (data(['books', 1]) as Book).title === 'renamed');
    expect(api.fetches).toEqual(['detail 1']);

    // A refetch of the detail starts, reading the old record; the change lands while it runs.
    const release = api.hold();
    void queryClient.refetchQueries({ queryKey: ['books', 1] });
    await until(() => api.fetches.length === 2);
    api.books.set(1, { id: 1, title: 'newest' });
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'newest' } });
    await until(() => (data(['books', 1]) as Book).title === 'newest');
    release();
    await idle();
    await tick(20);
    expect(data(['books', 1])).toEqual({ id: 1, title: 'newest' });
  });

  it('after a gap reloads every query of the subscribed resources and waits for them; a failure is retried', async () => {
    const { live, bridge, api, queryClient, observe, idle, connected, errors } = await setup();
    const authors: string[] = [];
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
    cleanups.add(disconnect);
    observe(['books'], api.list);
    observe(['books', 2], () => api.detail(2));
    observe(['authors'], async () => {
      authors.push('fetch');
      return [];
    });
    await connected();
    await disconnect.ready;
    await idle();
    // The first load when the subscription went live reloaded the books' queries once.
    expect(api.fetches.sort()).toEqual(['detail 2', 'detail 2', 'list', 'list']);
    expect(authors).toEqual(['fetch']);
    api.fetches.length = 0;

    api.fail(1);
    bridge.resync('test');
    await until(() => errors().includes('refetch-failed'));
    await until(() => api.fetches.length === 4);
    await idle();
    expect(api.fetches.sort()).toEqual(['detail 2', 'detail 2', 'list', 'list']);
    expect(authors).toEqual(['fetch']);
    expect(queryClient.getQueryState(['books'])?.status).toBe('success');
  });

  it('changes held during a reload are applied after it, and invalidate the lists once', async () => {
    const { live, bridge, api, queryClient, observe, data, idle, connected } = await setup();
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
    cleanups.add(disconnect);
    observe(['books'], api.list);
    await connected();
    await disconnect.ready;
    await idle();
    api.fetches.length = 0;
    const release = api.hold();
    bridge.resync('test');
    await until(() => api.fetches.length === 1);
    for (const id of [3, 4, 5]) {
      api.books.set(id, { id, title: `book ${id}` });
      await bridge.publishChange({ resource: 'books', action: 'create', id, obj: { id, title: `book ${id}` } });
    }
    await tick(50);
    expect(api.fetches).toEqual(['list']);
    release();
    await until(() => api.fetches.length === 2);
    await idle();
    await tick(20);
    expect(api.fetches).toEqual(['list', 'list']);
    expect((data(['books']) as Book[]).map((book) => book.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes custom keys and a scope', async () => {
    const { live, bridge, api, queryClient, observe, data, idle, connected } = await setup();
    const disconnect = connectQueryClient(live, queryClient, {
      resources: [{ resource: 'books', scope: 'shelf:1', queryKey: ['shelf', 1], detailKey: (id) => ['shelf', 1, 'book', id], listKey: ['shelf', 1, 'list'] }],
    });
    cleanups.add(disconnect);
    observe(['shelf', 1, 'list'], api.list);
    observe(['shelf', 1, 'book', 1], () => api.detail(1));
    await connected();
    await disconnect.ready;
    await idle();
    api.fetches.length = 0;
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'unscoped' } });
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'scoped' }, scope: 'shelf:1' });
    await until(() => (data(['shelf', 1, 'book', 1]) as Book).title === 'scoped');
    await idle();
    expect(api.fetches).toEqual(['list']);
  });

  it('drives onlineManager: offline only while the browser is, not while reconnecting', async () => {
    const { live, bridge, signals, queryClient, connected, established } = await setup();
    const seen: boolean[] = [];
    cleanups.add(onlineManager.subscribe((online) => seen.push(online)));
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
    await connected();
    established();
    bridge.io.disconnectSockets();
    await until(() => live.state === 'reconnecting');
    expect(onlineManager.isOnline()).toBe(true);
    await connected();
    signals.fire('offline');
    expect(live.state).toBe('offline');
    expect(onlineManager.isOnline()).toBe(false);
    signals.fire('online');
    // Online again once the live state leaves 'offline' (at the next reconnection attempt).
    await until(() => onlineManager.isOnline());
    await connected();
    signals.fire('offline');
    expect(onlineManager.isOnline()).toBe(false);
    disconnect();
    expect(onlineManager.isOnline()).toBe(true);
    expect(seen).toEqual([false, true, false, true]);
    // Left alone after disconnect, and not at all with `onlineManager: false`.
    signals.fire('online');
    await connected();
    const quiet = connectQueryClient(live, queryClient, { resources: ['books'], onlineManager: false });
    signals.fire('offline');
    expect(onlineManager.isOnline()).toBe(true);
    quiet();
  });

  it('disconnect releases the subscriptions and stops applying changes; bad options throw', async () => {
    const { live, bridge, api, queryClient, observe, data, idle, connected, counts } = await setup();
    const disconnect = connectQueryClient(live, queryClient, { resources: ['books', 'authors'] });
    observe(['books', 1], () => api.detail(1));
    await connected();
    await disconnect.ready;
    await idle();
    expect(counts).toEqual({ made: 2, open: 2 });
    disconnect();
    disconnect();
    expect(counts.open).toBe(0);
    await bridge.publishChange({ resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'unseen' } });
    await tick(50);
    expect((data(['books', 1]) as Book).title).toBe('one');
    expect(() => connectQueryClient(live, queryClient, { resources: [] })).toThrow(TypeError);
    expect(() => connectQueryClient(live, queryClient, { resources: [''] })).toThrow(TypeError);
    expect(() => connectQueryClient(live, queryClient, undefined as never)).toThrow(TypeError);
  });
});
