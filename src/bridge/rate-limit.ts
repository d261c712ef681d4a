// A token bucket per connection: a burst, then a steady rate. Written by hand because it is ten
// lines and every limiter package brings timers or a store we do not want per socket.

/** How many events one connection may send: `burst` at once, then `perSecond`. */
export interface RateLimit {
  /** Events allowed at once. */
  burst: number;
  /** Events refilled per second. */
  perSecond: number;
}

/** One connection's bucket. */
export interface TokenBucket {
  /** Takes one token; false when the bucket is empty. */
  take(): boolean;
}

/** Creates a full bucket; `now` (ms) is injectable for tests. */
export function createTokenBucket({ burst, perSecond }: RateLimit, now: () => number = () => performance.now()): TokenBucket {
  let tokens = burst;
  let last = now();
  return {
    take() {
      const time = now();
      tokens = Math.min(burst, tokens + ((time - last) / 1000) * perSecond);
      last = time;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
