// The latest new-version notice of an instance as a store with a synchronous read, which
// React's useSyncExternalStore needs and `live.onNewVersion` alone does not give (it calls back;
// a listener added late hears the pending notice a microtask later). One store per instance, so
// a component mounted late reads the notice at once; it listens while anyone listens.
import type { LiveUpdates, VersionChange } from '../index';

/** The latest new-version notice of one instance. */
export interface VersionStore {
  /** The latest notice heard, `null` before any; the same object until the next one. */
  get(): VersionChange | null;
  /** Calls `listener` on each new notice; returns its idempotent unsubscribe. */
  subscribe(listener: () => void): () => void;
}

// Keyed by instance (a WeakMap, so it goes with the instance), for the reason above.
const stores = new WeakMap<LiveUpdates, VersionStore>();

/** The version store of `live`, created on first use. */
export function versionStoreOf(live: LiveUpdates): VersionStore {
  const existing = stores.get(live);
  if (existing) return existing;
  let latest: VersionChange | null = null;
  const listeners = new Set<() => void>();
  let detach: (() => void) | null = null;
  const store: VersionStore = {
    get: () => latest,
    subscribe(listener) {
      listeners.add(listener);
      // A fresh listener hears the pending notice again: keep the snapshot when it is the same.
      detach ??= live.onNewVersion((notice) => {
        if (latest?.current === notice.current && latest.latest === notice.latest) return;
        latest = notice;
        for (const each of [...listeners]) each();
      });
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        listeners.delete(listener);
        if (listeners.size > 0 || !detach) return;
        detach();
        detach = null;
      };
    },
  };
  stores.set(live, store);
  return store;
}
