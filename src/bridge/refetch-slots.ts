// Hands out refetch times after a restart. Every client that comes back after a gap it shares
// with the others (the bridge restarted, the network dropped everyone) asks for a slot in its
// handshake, and the greeting tells it when to refetch: slots are 1/rate apart, so the app's API
// sees at most `rate` refetching clients per second per bridge process however many return, and
// a lone client that reconnects gets its slot at once. When more clients come back than the
// window can take at that rate (rate × maxDelayMs per process: 80/s × 30 s = 2,400), the excess is
// spread evenly over the window instead of all being handed its last slot: the API then sees a
// higher but flat rate, never a cliff at the window's edge. Hand-written: socket.io has no such thing.

/** The slot allocator of one bridge process. */
export interface RefetchSlots {
  /** Books the next free slot; returns how many ms from now it starts. */
  take(): number;
}

/**
 * Creates an allocator for `ratePerSecond` slots per second, never further out than `maxDelayMs`;
 * past capacity, a uniformly random delay in [0, maxDelayMs). `random` in [0, 1).
 */
export function createRefetchSlots(ratePerSecond: number, maxDelayMs: number, now: () => number = () => Date.now(), random: () => number = Math.random): RefetchSlots {
  const spacing = 1000 / ratePerSecond;
  let next = -Infinity;
  return {
    take() {
      const t = now();
      const at = Math.max(t, next);
      if (at - t > maxDelayMs) return Math.floor(random() * maxDelayMs);
      next = at + spacing;
      return Math.round(at - t);
    },
  };
}
