// Counts the library subscriptions (`live.subscribe` calls) made on an instance and how many are
// still open: what the adapters promise to keep at one per (resource, scope). Browser-safe, so the
// e2e pages use it too.
import type { LiveUpdates } from '../../src/index';

/** Wraps `live.subscribe`; the returned counts follow it. */
export function countSubscriptions(live: LiveUpdates, counts = { made: 0, open: 0 }): { made: number; open: number } {
  const subscribe = live.subscribe.bind(live);
  live.subscribe = (...args) => {
    const unsubscribe = subscribe(...args);
    counts.made++;
    counts.open++;
    let open = true;
    return Object.assign(
      () => {
        if (open) counts.open--;
        open = false;
        unsubscribe();
      },
      { ready: unsubscribe.ready },
    );
  };
  return counts;
}
