// live-updates/react: the instance through a context, the connection state and the new-version
// notice through useSyncExternalStore, and subscriptions shared across components
// (adapters/shared-subscriptions.ts) with each component's latest handler. React ≥ 18.
import { createContext, createElement, useCallback, useContext, useEffect, useLayoutEffect, useRef, useSyncExternalStore, type ReactElement, type ReactNode } from 'react';
import type { ChangeHandler, LiveUpdates, StateInfo, SubscribeOptions } from './index';
export type { OfferedVersion } from './adapters/new-version';
import { versionStoreOf, type OfferedVersion } from './adapters/new-version';
import { join } from './adapters/shared-subscriptions';

const LiveUpdatesContext = createContext<LiveUpdates | null>(null);

/** Props of {@link LiveUpdatesProvider}. */
export interface LiveUpdatesProviderProps {
  /** The instance the hooks below it use (from `createLiveUpdates`). The provider neither creates nor closes it. */
  live: LiveUpdates;
  /** The subtree whose hooks use `live`. @default undefined */
  children?: ReactNode;
}

/**
 * Makes `live` available to the hooks of live-updates/react in its subtree.
 * @example
 * const live = createLiveUpdates({ url: location.origin });
 * createRoot(el).render(<LiveUpdatesProvider live={live}><App /></LiveUpdatesProvider>);
 */
export function LiveUpdatesProvider({ live, children }: LiveUpdatesProviderProps): ReactElement {
  return createElement(LiveUpdatesContext.Provider, { value: live }, children);
}

/**
 * The instance of the nearest {@link LiveUpdatesProvider}.
 * Throws a TypeError when there is none (a programmer error).
 * @example const live = useLiveUpdates(); live.refetch('books');
 */
export function useLiveUpdates(): LiveUpdates {
  const live = useContext(LiveUpdatesContext);
  if (!live) throw new TypeError('live-updates/react: no instance here; wrap the tree in <LiveUpdatesProvider live={live}>.');
  return live;
}

/**
 * The connection state with its reason, `live.status`: re-renders on every change of either
 * (and of the next retry time), and only then — the snapshot is the same object between changes.
 * @example
 * const { state, reason } = useLiveStatus();
 * return state === 'connected' ? null : <p>{state} ({reason})</p>;
 */
export function useLiveStatus(): StateInfo {
  const live = useLiveUpdates();
  const subscribe = useCallback((onChange: () => void) => live.onStateChange(onChange), [live]);
  const read = useCallback(() => live.status, [live]);
  return useSyncExternalStore(subscribe, read, read);
}

/**
 * The version on offer, `{ current, latest, required, build? }` as `live.onNewVersion` gives it, or
 * `null` while there is none: before any announcement, after a rollback withdrew it, and always
 * during server rendering. A component that mounts after the announcement gets it too.
 * @example
 * const update = useNewVersion();
 * return update && <button onClick={() => location.reload()}>Version {update.latest} is out — reload</button>;
 */
export function useNewVersion(): OfferedVersion | null {
  const store = versionStoreOf(useLiveUpdates());
  return useSyncExternalStore(store.subscribe, store.get, () => null);
}

// Layout effects do not run on the server (and React 18 warns there): the passive one serves.
const useLatestEffect = typeof window === 'undefined' ? useEffect : useLayoutEffect;

/**
 * Routes the changes of `resource` (of `options.scope`, when given) to `handler` while the
 * component is mounted, as `live.subscribe` does: in order, held while a load runs, and
 * `options.refetch` run when the subscription becomes live and after every gap.
 *
 * The latest `handler` and `refetch` are the ones called: passing new functions on every render
 * does not resubscribe; only a new `resource` or `scope` does. Components subscribed to the same
 * (resource, scope) share one library subscription: after a gap, the `refetch` of each of them
 * runs once, together (the attempt fails, and is retried, if any fails); a component that mounts
 * once the shared subscription has started loading runs its own `refetch` once on mount. Safe
 * under StrictMode: the mount–unmount–mount leaves one subscription and loads once.
 *
 * Throws a TypeError (from the effect) for an empty `resource` or `scope`, or without a provider.
 * @example
 * const [books, setBooks] = useState(new Map());
 * useSubscribe('books', (change) => setBooks((old) => applyChange(old, change)), {
 *   refetch: async ({ signal }) => setBooks(toMap(await (await fetch('/books', { signal })).json())),
 * });
 */
export function useSubscribe(resource: string, handler: ChangeHandler, options: SubscribeOptions = {}): void {
  const live = useLiveUpdates();
  const latest = useRef({ handler, refetch: options.refetch });
  useLatestEffect(() => {
    latest.current = { handler, refetch: options.refetch };
  });
  const { scope } = options;
  useEffect(
    () =>
      join(live, resource, scope, {
        handler: (change) => latest.current.handler(change),
        refetch: () => latest.current.refetch,
      }),
    [live, resource, scope],
  );
}
