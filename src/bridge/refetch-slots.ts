// Hands out refetch times after a restart. Every client that comes back after a gap it shares
// with the others (the bridge restarted, the network dropped everyone) asks for a slot in its
// handshake, and the greeting tells it when to refetch: slots are 1/rate apart, so the app's API
// sees at most `rate` refetching clients per second per bridge process however many return, and
// a lone client that reconnects gets its slot at once. Hand-written: socket.io has no such thing.

/** The slot allocator of one bridge process. */
export interface RefetchSlots {
  /** Books the next free slot; returns how many ms from now it starts. */
  take(): number;
}

/** Creates an allocator for `ratePerSecond` slots per second, never further out than `maxDelayMs`. */
export function createRefetchSlots(ratePerSecond: number, maxDelayMs: number, now: () => number = () => Date.now()): RefetchSlots {
  const spacing = 1000 / ratePerSecond;
  let next = -Infinity;
  return {
    take() {
      const at = Math.max(now(), next);
      next = at + spacing;
      return Math.min(Math.round(at - now()), maxDelayMs);
    },
  };
}
