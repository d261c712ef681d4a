// live-updates/vue: the instance through provide/inject, the connection state and the
// new-version notice as refs, and subscriptions shared across components
// (adapters/shared-subscriptions.ts); everything ends with the effect scope that made it. Vue ≥ 3.3.
import { getCurrentScope, hasInjectionContext, inject, onScopeDispose, shallowRef, toRef, toValue, watch, type App, type InjectionKey, type MaybeRefOrGetter, type Ref } from 'vue';
import type { ChangeHandler, LiveUpdates, RefetchFn, StateInfo } from './index';
export type { OfferedVersion } from './adapters/new-version';
import { versionStoreOf, type OfferedVersion } from './adapters/new-version';
import { join } from './adapters/shared-subscriptions';

/** The injection key of the instance: `provide(LIVE_UPDATES_KEY, live)` for one subtree. */
export const LIVE_UPDATES_KEY: InjectionKey<LiveUpdates> = Symbol('live-updates');

/**
 * A Vue plugin that provides `live` to the whole app: `app.use(liveUpdatesPlugin, live)`.
 * The app neither creates nor closes it.
 * @example
 * const live = createLiveUpdates({ url: location.origin });
 * createApp(App).use(liveUpdatesPlugin, live).mount('#app');
 */
export const liveUpdatesPlugin = {
  install(app: App, live: LiveUpdates): void {
    if (!live || typeof live.subscribe !== 'function') throw new TypeError('live-updates/vue: app.use(liveUpdatesPlugin, live) needs the instance.');
    app.provide(LIVE_UPDATES_KEY, live);
  },
};

/**
 * The provided instance. Call it in `setup()` (or inside `app.runWithContext`). Throws a
 * TypeError when none was provided (a programmer error).
 * @example const live = useLiveUpdates(); live.refetch('books');
 */
export function useLiveUpdates(): LiveUpdates {
  const live = hasInjectionContext() ? inject(LIVE_UPDATES_KEY, null) : null;
  if (!live) throw new TypeError('live-updates/vue: no instance here; app.use(liveUpdatesPlugin, live) or provide(LIVE_UPDATES_KEY, live).');
  return live;
}

/** A composable that registers listeners needs a scope to remove them in. */
function needScope(name: string): void {
  if (!getCurrentScope()) throw new TypeError(`live-updates/vue: ${name}() must run in setup() or an effectScope, which removes what it registers.`);
}

/**
 * The connection state with its reason (`live.status`) as a read-only ref, updated on every
 * change of either; stops listening when the calling scope ends.
 * Throws a TypeError outside a scope or without an instance.
 * @example
 * const status = useLiveStatus();
 * const badge = computed(() => (status.value.state === 'connected' ? 'live' : status.value.state));
 */
export function useLiveStatus(): Readonly<Ref<StateInfo>> {
  needScope('useLiveStatus');
  const live = useLiveUpdates();
  const status = shallowRef(live.status);
  onScopeDispose(live.onStateChange((_state, info) => (status.value = info)));
  return toRef(() => status.value);
}

/**
 * The version on offer, `{ current, latest, required, build? }` as `live.onNewVersion` gives it, or
 * `null` while there is none (before any announcement, or after a rollback withdrew it), as a
 * read-only ref; a component set up after the announcement gets it too. Stops listening when the
 * calling scope ends. Throws a TypeError outside a scope or without an instance.
 * @example
 * const update = useNewVersion(); // <p v-if="update">Version {{ update.latest }} is out</p>
 */
export function useNewVersion(): Readonly<Ref<OfferedVersion | null>> {
  needScope('useNewVersion');
  const store = versionStoreOf(useLiveUpdates());
  const notice = shallowRef(store.get());
  onScopeDispose(store.subscribe(() => (notice.value = store.get())));
  return toRef(() => notice.value);
}

/** Options of {@link useSubscribe}. */
export interface UseSubscribeOptions {
  /** As `live.subscribe`'s `refetch`: loads the data when the subscription becomes live and after every gap. @default undefined */
  refetch?: RefetchFn;
  /** As `live.subscribe`'s `scope`; a ref or getter resubscribes when it changes. @default undefined */
  scope?: MaybeRefOrGetter<string | undefined>;
}

/**
 * Routes the changes of `resource` (a string, ref or getter: a new value resubscribes) to
 * `handler` until the calling scope ends, as `live.subscribe` does: in order, held while a load
 * runs, `options.refetch` run when the subscription becomes live and after every gap.
 * Components subscribed to the same (resource, scope) share one library subscription: after a
 * gap, the `refetch` of each runs once, together (the attempt fails, and is retried, if any
 * fails); a component set up once the shared subscription has started loading runs its own
 * `refetch` once. Throws a TypeError for an empty resource or scope, outside a scope, or
 * without an instance.
 * @example
 * const books = ref(new Map());
 * useSubscribe('books', (change) => applyChange(books.value, change), {
 *   refetch: async ({ signal }) => (books.value = toMap(await (await fetch('/books', { signal })).json())),
 * });
 */
export function useSubscribe(resource: MaybeRefOrGetter<string>, handler: ChangeHandler, options: UseSubscribeOptions = {}): void {
  needScope('useSubscribe');
  const live = useLiveUpdates();
  const listener = { handler, refetch: () => options.refetch };
  const target = () => [toValue(resource), toValue(options.scope)] as const;
  let [name, scope] = target();
  // The first join outside the watcher, so that a bad resource or scope throws here.
  let leave = join(live, name, scope, listener);
  const stop = watch(target, ([nextName, nextScope]) => {
    // A getter re-runs when anything it reads changes: resubscribe only for another subscription.
    if (nextName === name && nextScope === scope) return;
    [name, scope] = [nextName, nextScope];
    leave();
    leave = join(live, name, scope, listener);
  });
  onScopeDispose(() => {
    stop();
    leave();
  });
}
