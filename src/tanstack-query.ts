// live-updates/tanstack-query: keeps a TanStack Query cache in step with the changes of the
// subscribed resources, reloads their queries after every gap, and tells TanStack's
// onlineManager when the browser is offline. It talks to @tanstack/query-core only, so React,
// Vue, Solid and Svelte Query users share it. @tanstack/query-core ≥ 5.
//
// Query keys, by default (each configurable per resource):
// - every query of a resource starts with `[resource]` (reloaded after a gap);
// - the detail query of record `id` is `[resource, id]` (updated, or removed, by its changes);
// - every other query under `[resource]` is a list (`['books']`, `['books', { page: 2 }]`),
//   invalidated by every change of the resource.
import { hashKey, isCancelledError, onlineManager as defaultOnlineManager, type QueryClient, type QueryKey } from '@tanstack/query-core';
import type { Change, LiveUpdates, ConnectionState, Unsubscribe } from './index';

/** One resource to keep in step, and where its queries are in the cache. */
export interface QueryResource {
  /** The resource name, as published. */
  resource: string;
  /** Subscribe to this scope's changes (a private subscription). @default undefined (the unscoped changes) */
  scope?: string;
  /** The prefix of every query of this resource: all of them are reloaded after a gap. @default [resource] */
  queryKey?: QueryKey;
  /** The key of record `id`'s detail query. Its last element should be the id (lists are told apart by that). @default (id) => [...queryKey, id] */
  detailKey?: (id: string | number) => QueryKey;
  /** The prefix of this resource's list queries: every query under it that is not a detail query. @default queryKey */
  listKey?: QueryKey;
}

/** Options of {@link connectQueryClient}. */
export interface ConnectQueryClientOptions {
  /** The resources to keep in step: names, or {@link QueryResource} for other keys or a scope. */
  resources: ReadonlyArray<string | QueryResource>;
  /**
   * The onlineManager the live state drives (offline while the browser is, as live-updates sees
   * it), or `false` to leave it alone. Pass your own when your bundle holds another copy of
   * @tanstack/query-core than this adapter imports.
   * @default the onlineManager of @tanstack/query-core
   */
  onlineManager?: Pick<typeof defaultOnlineManager, 'isOnline' | 'setOnline'> | false;
}

/** What {@link connectQueryClient} returns: the disconnect function (idempotent), carrying `ready`. */
export interface QueryClientConnection {
  (): void;
  /** Resolves once every subscription is live and its queries reloaded since (never rejects). */
  readonly ready: Promise<void>;
}

interface Keys {
  all: QueryKey;
  detail: (id: string | number) => QueryKey;
  lists: QueryKey;
}

const isId = (value: unknown): value is string | number => typeof value === 'string' || typeof value === 'number';

/**
 * Keeps `queryClient`'s cache in step with the changes of `options.resources`:
 * - a create or update carrying `obj` puts it into the cached detail query (only one already in
 *   the cache, cancelling a fetch of it in flight, which could answer older data); without `obj`
 *   the detail is invalidated. A destroy removes the detail query. Either way the lists are
 *   invalidated (once per burst of changes).
 * - each load the library asks for — when the subscription becomes live, after every gap it did
 *   not replay, `live.refetch(resource)` — invalidates every query of the resource and waits for
 *   the active ones to refetch; a failed refetch fails the attempt, which live-updates retries.
 *   Changes that arrive meanwhile are held and applied after it.
 * - the live state drives `onlineManager`: offline in state `'offline'` (the browser went offline),
 *   online again when it leaves it and whenever it is `'connected'`. `'connecting'` and
 *   `'reconnecting'` do not mean offline: the socket server being out of reach says nothing of
 *   your API, and an offline onlineManager pauses every query, the reloads above included.
 *
 * Returns the disconnect function (it unsubscribes and gives the onlineManager back to the
 * browser's events), with `ready`. Throws a TypeError for bad options.
 * @example
 * const queryClient = new QueryClient();
 * const disconnect = connectQueryClient(live, queryClient, { resources: ['books'] });
 * // useQuery({ queryKey: ['books'], … }) and useQuery({ queryKey: ['books', id], … }) now stay live
 */
export function connectQueryClient(live: LiveUpdates, queryClient: QueryClient, options: ConnectQueryClientOptions): QueryClientConnection {
  if (!options || !Array.isArray(options.resources) || options.resources.length === 0) throw new TypeError('live-updates/tanstack-query: `resources` must be a non-empty array.');
  const manager = options.onlineManager === undefined ? defaultOnlineManager : options.onlineManager;
  const specs = options.resources.map((entry): QueryResource & Keys => {
    const spec = typeof entry === 'string' ? { resource: entry } : entry;
    if (!spec || typeof spec.resource !== 'string' || spec.resource === '') throw new TypeError('live-updates/tanstack-query: each resource needs a non-empty name.');
    const all = spec.queryKey ?? [spec.resource];
    return { ...spec, all, detail: spec.detailKey ?? ((id) => [...all, id]), lists: spec.listKey ?? all };
  });
  const cache = queryClient.getQueryCache();
  let connected = true;

  /** A query under the lists prefix is a detail when its last element, as an id, gives back its key. */
  const isDetail = (keys: Keys, queryKey: QueryKey): boolean => {
    const last = queryKey[queryKey.length - 1];
    return isId(last) && hashKey(keys.detail(last)) === hashKey(queryKey);
  };
  // Changes handed over in one go (held during a reload, a replay) invalidate the lists once.
  const dirtyLists = new Set<Keys>();
  const invalidateLists = (keys: Keys): void => {
    if (dirtyLists.size === 0) {
      queueMicrotask(() => {
        const lists = [...dirtyLists];
        dirtyLists.clear();
        if (!connected) return;
        for (const each of lists) void queryClient.invalidateQueries({ queryKey: each.lists, predicate: (query) => !isDetail(each, query.queryKey) });
      });
    }
    dirtyLists.add(keys);
  };

  const apply = (keys: Keys, change: Change): void => {
    const detail = { queryKey: keys.detail(change.id), exact: true };
    if (change.action === 'destroy') queryClient.removeQueries(detail);
    else if (change.obj === undefined) void queryClient.invalidateQueries(detail);
    else if (cache.find(detail)) {
      // Cancel first: a fetch in flight started before this change, and its answer would win.
      void queryClient.cancelQueries(detail);
      queryClient.setQueryData(detail.queryKey, change.obj);
    }
    invalidateLists(keys);
  };

  const reload = async (keys: Keys): Promise<void> => {
    const filters = { queryKey: keys.all };
    // Offline, a fetch would wait for the network: mark them stale (they run once online) and
    // let the reconnection's gap reload wait for their answers.
    if (manager && !manager.isOnline()) return void queryClient.invalidateQueries(filters);
    try {
      await queryClient.invalidateQueries(filters, { throwOnError: true });
    } catch (error) {
      // Cancelled by a newer fetch of the same query (a change, the app): that one answers.
      if (!isCancelledError(error)) throw error;
    }
  };

  const subscriptions: Unsubscribe[] = specs.map((keys) =>
    live.subscribe(keys.resource, (change) => apply(keys, change), { ...(keys.scope === undefined ? {} : { scope: keys.scope }), refetch: () => reload(keys) }),
  );

  // Only what the live state proves moves the onlineManager: 'offline' (the browser said so),
  // 'connected' (a link is up), and leaving 'offline'. 'connecting'/'reconnecting' alone leave it
  // where the browser's own events put it.
  let forcedOffline = false;
  const follow = (state: ConnectionState): void => {
    if (!manager || !connected) return;
    if (state === 'offline') forcedOffline = true;
    else if (state === 'connected' || forcedOffline) forcedOffline = false;
    else return;
    manager.setOnline(!forcedOffline);
  };
  follow(live.state);
  const stopFollowing = live.onStateChange(follow);

  const ready = Promise.all(subscriptions.map((subscription) => subscription.ready)).then(() => {});
  return Object.assign(
    () => {
      if (!connected) return;
      connected = false;
      stopFollowing();
      subscriptions.forEach((unsubscribe) => unsubscribe());
      // Back to what the browser says (TanStack's own listeners follow its events from here).
      if (manager && forcedOffline) manager.setOnline(typeof navigator === 'undefined' || navigator.onLine !== false);
    },
    { ready },
  );
}
