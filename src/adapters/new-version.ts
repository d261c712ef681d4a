// The latest new-version notice of an instance as a store with a synchronous read, which
// React's useSyncExternalStore needs and `live.onNewVersion` alone does not give (it calls back;
// a listener added late hears the pending notice a microtask later). One store per instance, so
// a component mounted late reads the notice at once; it listens while anyone listens. A withdrawn
// offer (`latest: null`, a rollback) reads as `null`, as before any: nothing is on offer.
import type { LiveUpdates, VersionChange } from '../index';

/** A notice with a version on offer (not a withdrawal). */
export type OfferedVersion = VersionChange & { latest: string };

/** The version on offer to one instance, from its notices. */
export interface VersionStore {
  /** The notice of the version on offer, `null` while none is (before any, or withdrawn); the same object until the offer changes. */
  get(): OfferedVersion | null;
  /** Calls `listener` on each new notice; returns its idempotent unsubscribe. */
  subscribe(listener: () => void): () => void;
}

// Keyed by instance (a WeakMap, so it goes with the instance), for the reason above.
const stores = new WeakMap<LiveUpdates, VersionStore>();

const sameOffer = (a: OfferedVersion | null, b: OfferedVersion | null): boolean =>
  a === b || (a !== null && b !== null && a.current === b.current && a.latest === b.latest && a.required === b.required && a.build === b.build);

/** The version store of `live`, created on first use. */
export function versionStoreOf(live: LiveUpdates): VersionStore {
  const existing = stores.get(live);
  if (existing) return existing;
  let latest: OfferedVersion | null = null;
  const listeners = new Set<() => void>();
  let detach: (() => void) | null = null;
  const store: VersionStore = {
    get: () => latest,
    subscribe(listener) {
      listeners.add(listener);
      // A fresh listener hears the pending notice again: keep the snapshot when it is the same.
      detach ??= live.onNewVersion((notice) => {
        const offered = notice.latest === null ? null : { ...notice, latest: notice.latest };
        if (sameOffer(latest, offered)) return;
        latest = offered;
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
