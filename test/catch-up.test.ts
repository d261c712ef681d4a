// The life of one subscription (src/catch-up.ts), driven by a fake clock: becoming live, the
// first load, deadlines, retries, holding changes during a load, gaps local and shared.
import { describe, expect, it } from 'vitest';
import { createCatchUp, DEAD_CONNECTION_TIMEOUTS, FIRST_PAINT_WAIT_MS, MIN_DEADLINE_MS, type RefetchContext, type RefetchFailure } from '../src/catch-up';
import type { Change } from '../src/messages';
import { createFakeClock } from './helpers/fake-clock';

const KEY = '["books",null]';
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const change = (id: number, action: Change['action'] = 'update'): Change => ({ resource: 'books', action, id });

/** A refetch the test settles by hand; records every call. */
function manualRefetch() {
  const calls: Array<{ context: RefetchContext; resolve: () => void; reject: (error: unknown) => void }> = [];
  const refetch = (context: RefetchContext) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ context, resolve, reject });
    });
  const last = () => calls[calls.length - 1]!;
  return { refetch, calls, last, reasons: () => calls.map((call) => `${call.context.reason}#${call.context.attempt}`) };
}

function setup({ live = false, spreadMs = 0, timeoutMs = 10_000, random = (): number => 0.5 } = {}) {
  const clock = createFakeClock();
  const failures: RefetchFailure[] = [];
  const liveKeys = new Set<string>(live ? [KEY] : []);
  const catchUp = createCatchUp({
    clock,
    spreadMs,
    timeoutMs,
    random,
    isLive: (key) => liveKeys.has(key),
    onRefetchFailed: (failure) => failures.push(failure),
    onHandlerError: () => {},
  });
  const log: string[] = [];
  const fetcher = manualRefetch();
  const member = catchUp.add(KEY, 'books', undefined, (c) => log.push(`${c.action}:${c.id}`), fetcher.refetch);
  let ready = false;
  void member.ready.then(() => (ready = true));
  const goLive = () => {
    liveKeys.add(KEY);
    catchUp.live(KEY);
  };
  return { clock, catchUp, member, fetcher, failures, log, goLive, isReady: () => ready };
}

describe('catch-up: becoming live', () => {
  it('loads once when the subscription becomes live, and is ready when that load succeeded', async () => {
    const { clock, fetcher, goLive, isReady } = setup();
    clock.advance(FIRST_PAINT_WAIT_MS - 1);
    expect(fetcher.calls).toEqual([]);
    goLive();
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1']);
    fetcher.last().resolve();
    await flush();
    expect(isReady()).toBe(true);
    clock.advance(60_000);
    expect(fetcher.reasons()).toEqual(['subscribed#1']); // nothing more without a gap
  });

  it('loads for first paint when not live within FIRST_PAINT_WAIT_MS, and again once live', async () => {
    const { clock, fetcher, goLive, isReady } = setup();
    clock.advance(FIRST_PAINT_WAIT_MS);
    expect(fetcher.reasons()).toEqual(['subscribed#1']);
    fetcher.last().resolve();
    await flush();
    expect(isReady()).toBe(false); // loaded, but changes do not reach the page yet
    goLive();
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'subscribed#1']);
    fetcher.last().resolve();
    await flush();
    expect(isReady()).toBe(true);
  });

  it('a subscription that becomes live while its first-paint load runs loads again after it', async () => {
    const { clock, fetcher, goLive } = setup();
    clock.advance(FIRST_PAINT_WAIT_MS);
    goLive(); // the snapshot in flight predates the room join: not enough
    expect(fetcher.calls).toHaveLength(1);
    fetcher.last().resolve();
    await flush();
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'subscribed#1']);
  });

  it('reloads when it is live again after a refusal, without a connection gap', async () => {
    const { clock, catchUp, fetcher, goLive } = setup({ live: true });
    clock.advance(0);
    fetcher.last().resolve();
    await flush();
    catchUp.unlive(KEY);
    goLive();
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'subscribed#1']);
  });
});

describe('catch-up: changes during a load', () => {
  it('holds changes that arrive while a load runs and hands them over, in order, after the snapshot', async () => {
    const { clock, member, fetcher, log } = setup({ live: true });
    member.deliver(change(1)); // before any load: straight through
    clock.advance(0);
    member.deliver(change(2));
    member.deliver(change(3, 'destroy'));
    expect(log).toEqual(['update:1']);
    log.push('snapshot');
    fetcher.last().resolve();
    await flush();
    expect(log).toEqual(['update:1', 'snapshot', 'update:2', 'destroy:3']);
    member.deliver(change(4));
    expect(log.at(-1)).toBe('update:4');
  });

  it('hands held changes over when the load fails too, and drops them on release', async () => {
    const { clock, member, fetcher, log } = setup({ live: true });
    clock.advance(0);
    member.deliver(change(1));
    fetcher.last().reject(new Error('503'));
    await flush();
    expect(log).toEqual(['update:1']);
    clock.advance(750); // the retry (1 s × 0.75)
    member.deliver(change(2));
    member.release();
    fetcher.last().resolve();
    await flush();
    expect(log).toEqual(['update:1']);
  });
});

describe('catch-up: deadlines and retries', () => {
  it('retries a failed load with capped, jittered exponential backoff, one failure event per attempt', async () => {
    const { clock, fetcher, failures } = setup({ live: true, random: () => 0 }); // backoff × 0.5
    clock.advance(0);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      fetcher.last().reject(new Error('503'));
      await flush();
      const before = fetcher.calls.length;
      const start = clock.now();
      while (fetcher.calls.length === before) clock.advance(100);
      delays.push(clock.now() - start);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
    expect(failures.map((failure) => failure.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(fetcher.reasons().at(-1)).toBe('subscribed#8');
    fetcher.last().resolve();
    await flush();
    clock.advance(120_000);
    expect(fetcher.calls).toHaveLength(8);
  });

  it('aborts a run past its deadline, retries at once, then adapts the deadline to the measured latency', async () => {
    const { clock, catchUp, fetcher, failures } = setup({ live: true, timeoutMs: 5000 });
    clock.advance(0);
    // Unknown latency: the deadline is refetchTimeoutMs.
    clock.advance(4999);
    expect(fetcher.last().context.signal.aborted).toBe(false);
    clock.advance(1);
    expect(fetcher.calls[0]!.context.signal.aborted).toBe(true);
    expect(failures).toMatchObject([{ attempt: 1, timedOutAfterMs: 5000 }]);
    await flush();
    clock.advance(0); // a timed-out run took its dead connection with it: retry at once
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'subscribed#2']);
    clock.advance(40);
    fetcher.last().resolve(); // the API answers in 40 ms
    await flush();

    // Known latency (SRTT 40, RTTVAR 20): the deadline is max(MIN_DEADLINE_MS, 40 + 4·20).
    catchUp.gap('dead-link');
    clock.advance(0);
    const deadlines: number[] = [];
    for (let i = 0; i < DEAD_CONNECTION_TIMEOUTS + 2; i++) {
      const call = fetcher.last();
      const start = clock.now();
      while (!call.context.signal.aborted) clock.advance(10);
      deadlines.push(clock.now() - start);
      await flush();
      clock.advance(0); // retried at once: the deadline spaced the attempts already
    }
    // Dead pooled connections first (same short deadline), then doubling (RFC 6298 §5.5).
    expect(deadlines).toEqual([...Array<number>(DEAD_CONNECTION_TIMEOUTS).fill(MIN_DEADLINE_MS), 2 * MIN_DEADLINE_MS, 4 * MIN_DEADLINE_MS]);
    expect(failures.slice(1).map((failure) => failure.timedOutAfterMs)).toEqual(deadlines);
    expect(fetcher.reasons().slice(2, 4)).toEqual(['dead-link#1', 'dead-link#2']);
  });

  it('a local gap aborts a run in flight and starts over at once; a shared gap waits for it and spreads', async () => {
    const { clock, catchUp, fetcher } = setup({ live: true, spreadMs: 5000, random: () => 0.5 });
    clock.advance(0);
    const first = fetcher.last();
    catchUp.gap('dead-link');
    expect(first.context.signal.aborted).toBe(true);
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'dead-link#1']);
    catchUp.gap('server-disconnect'); // queued behind the run in flight, keeping its spread
    fetcher.last().resolve();
    await flush();
    clock.advance(2499); // random 0.5 × 5000, counted from the gap
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'dead-link#1']);
    clock.advance(1);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'dead-link#1', 'server-disconnect#1']);
    fetcher.last().resolve();
    await flush();
    catchUp.gap('server-disconnect');
    clock.advance(2499);
    expect(fetcher.calls).toHaveLength(3);
    clock.advance(1); // random 0.5 × 5000
    expect(fetcher.reasons().at(-1)).toBe('server-disconnect#1');
  });

  it('is not ready while a gap overtook its first load: the reload after the gap must succeed first', async () => {
    const { clock, catchUp, fetcher, isReady } = setup({ live: true });
    clock.advance(0);
    catchUp.lost();
    catchUp.live(KEY);
    catchUp.gap('transport-close'); // the first load's snapshot may predate changes lost in this gap
    fetcher.last().resolve();
    await flush();
    expect(isReady()).toBe(false);
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'transport-close#1']);
    fetcher.last().resolve();
    await flush();
    expect(isReady()).toBe(true);
  });

  it('a gap reload left unfinished waits for the next gap (held back while a server kicks) or a recovery, not for live', async () => {
    const { clock, catchUp, fetcher, goLive } = setup({ live: true });
    clock.advance(0);
    fetcher.last().resolve();
    await flush();
    catchUp.gap('server-disconnect');
    catchUp.lost(); // kicked before the reload ran: it runs while not live, which proves nothing
    clock.advance(0);
    fetcher.last().resolve();
    await flush();
    goLive(); // reconnected: the connection holds the gap back while the kicks go on
    clock.advance(60_000);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'server-disconnect#1']);
    catchUp.recovered(); // or it recovered: the unfinished reload runs now
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'server-disconnect#1', 'server-disconnect#1']);
  });

  it('a refused subscription stops loading (no retry loop) until it is live again', async () => {
    const { clock, catchUp, fetcher, goLive, failures } = setup();
    clock.advance(FIRST_PAINT_WAIT_MS); // first paint while not live
    const firstPaint = fetcher.last();
    catchUp.refused(KEY); // forbidden
    expect(firstPaint.context.signal.aborted).toBe(true);
    firstPaint.reject(new Error('403'));
    await flush();
    clock.advance(10 * 60_000);
    expect(fetcher.calls).toHaveLength(1);
    expect(failures).toEqual([]);
    goLive(); // accepted on the next connection
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'subscribed#1']);
  });

  it('outside local gaps, deadlines double from the first timeout (a slow API is not a dead pool)', async () => {
    const { clock, catchUp, fetcher } = setup({ live: true });
    clock.advance(0);
    clock.advance(20);
    fetcher.last().resolve(); // 20 ms: deadline at the 200 ms floor
    await flush();
    catchUp.gap('server-resync');
    clock.advance(0);
    const deadlines: number[] = [];
    for (let i = 0; i < 3; i++) {
      const call = fetcher.last();
      const start = clock.now();
      while (!call.context.signal.aborted) clock.advance(10);
      deadlines.push(clock.now() - start);
      await flush();
      clock.advance(0);
    }
    expect(deadlines).toEqual([MIN_DEADLINE_MS, 2 * MIN_DEADLINE_MS, 4 * MIN_DEADLINE_MS]);
  });

  it('a gap restarts a cycle that was waiting out its backoff', async () => {
    const { clock, catchUp, fetcher } = setup({ live: true });
    clock.advance(0);
    fetcher.last().reject(new Error('503'));
    await flush();
    catchUp.gap('offline');
    clock.advance(0);
    expect(fetcher.reasons()).toEqual(['subscribed#1', 'offline#1']);
  });

  it('moves reloads waiting out a shared-gap spread to the bridge slot', () => {
    const { clock, catchUp, fetcher } = setup({ live: true, spreadMs: 60_000, random: () => 0.9 });
    clock.advance(0);
    fetcher.last().resolve();
    return flush().then(() => {
      catchUp.gap('server-disconnect');
      catchUp.reschedule(1000);
      clock.advance(999);
      expect(fetcher.calls).toHaveLength(1);
      clock.advance(1);
      expect(fetcher.reasons()).toEqual(['subscribed#1', 'server-disconnect#1']);
    });
  });
});
