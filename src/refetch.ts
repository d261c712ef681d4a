// Which refetches run after a gap: every registered one, once. A run requested while the same
// refetch is still in flight coalesces into a single follow-up run. After gaps that many clients
// share (a server restart, a server-side resync) each run waits a random share of `spreadMs`, so
// ten thousand returning tabs do not hit the app's API in the same 100 ms.
import type { Clock, TimerHandle } from './environment';

/** Why the connection had a gap (and so why refetches run). */
export type GapReason =
  | 'transport-close'
  | 'transport-error'
  | 'ping-timeout'
  | 'server-disconnect'
  | 'offline'
  | 'dead-link'
  | 'server-resync';

/** Passed to a `refetch` callback. */
export interface RefetchContext {
  /** The subscribed resource. */
  resource: string;
  /** The subscription's scope, if it has one. */
  scope?: string;
  /** What caused the gap that this refetch closes. */
  reason: GapReason;
  /** Aborted when the subscription is removed or the instance closed: pass it to `fetch`. */
  signal: AbortSignal;
}

/** Reloads a resource's data after a gap. May return a promise; rejections become error events. */
export type RefetchFn = (context: RefetchContext) => unknown;

/** Reasons that hit every client of a server at once, so their refetches are spread out. */
const SHARED_GAPS: ReadonlySet<GapReason> = new Set<GapReason>(['transport-close', 'transport-error', 'ping-timeout', 'server-disconnect', 'server-resync']);

/** Whether a gap of this kind likely hit many clients at once (a restart, a network drop). */
export const isSharedGap = (reason: GapReason): boolean => SHARED_GAPS.has(reason);

/** Options of {@link createRefetcher}. */
export interface RefetcherOptions {
  clock: Clock;
  /** Upper bound of the random delay before refetches after a shared gap, in ms. */
  spreadMs: number;
  /** Hears about refetches that threw or rejected. */
  onError: (resource: string, cause: unknown) => void;
  /** Source of randomness in [0, 1). */
  random?: () => number;
}

/** Runs the registered refetches after gaps. */
export interface Refetcher {
  /** Registers a refetch for `resource` (and `scope`); returns its idempotent unregister (which aborts a run). */
  add(resource: string, refetch: RefetchFn, scope?: string): () => void;
  /** Runs every registered refetch once for this gap. */
  runAll(reason: GapReason): void;
  /** Moves the refetches still waiting out their spread to `delayMs` from now (the bridge's slot). */
  reschedule(delayMs: number): void;
  /** Cancels pending runs and aborts running ones. */
  clear(): void;
}

interface Entry {
  resource: string;
  scope: string | undefined;
  refetch: RefetchFn;
  controller: AbortController;
  running: boolean;
  /** Reason of a run requested while one was in flight (coalesced into one follow-up). */
  queued: GapReason | null;
  timer: TimerHandle | null;
}

/** Creates the refetcher of one live-updates instance. */
export function createRefetcher(options: RefetcherOptions): Refetcher {
  const { clock, spreadMs, onError } = options;
  const random = options.random ?? Math.random;
  const entries = new Set<Entry>();
  /** Reason of the gap whose spread runs are waiting. */
  let waiting: GapReason | null = null;

  const run = (entry: Entry, reason: GapReason): void => {
    entry.timer = null;
    if (!entries.has(entry)) return;
    if (entry.running) {
      entry.queued = reason;
      return;
    }
    entry.running = true;
    const finish = (): void => {
      entry.running = false;
      const next = entry.queued;
      entry.queued = null;
      if (next) run(entry, next);
    };
    const fail = (cause: unknown): void => {
      if (!entry.controller.signal.aborted) onError(entry.resource, cause);
    };
    try {
      const { resource, scope, controller } = entry;
      Promise.resolve(entry.refetch({ resource, ...(scope === undefined ? {} : { scope }), reason, signal: controller.signal }))
        .catch(fail)
        .finally(finish);
    } catch (cause) {
      fail(cause);
      finish();
    }
  };

  const remove = (entry: Entry): void => {
    if (!entries.delete(entry)) return;
    if (entry.timer !== null) clock.clearTimeout(entry.timer);
    entry.controller.abort();
  };

  return {
    add(resource, refetch, scope) {
      const entry: Entry = { resource, scope, refetch, controller: new AbortController(), running: false, queued: null, timer: null };
      entries.add(entry);
      return () => remove(entry);
    },
    runAll(reason) {
      const spread = isSharedGap(reason) ? spreadMs : 0;
      if (spread > 0) waiting = reason;
      for (const entry of entries) {
        if (entry.timer !== null) continue; // already scheduled for this gap
        if (spread <= 0) run(entry, reason);
        else entry.timer = clock.setTimeout(() => run(entry, reason), Math.floor(random() * spread));
      }
    },
    reschedule(delayMs) {
      const reason = waiting;
      if (reason === null) return;
      for (const entry of entries) {
        if (entry.timer === null) continue;
        clock.clearTimeout(entry.timer);
        entry.timer = clock.setTimeout(() => run(entry, reason), delayMs);
      }
    },
    clear: () => [...entries].forEach(remove),
  };
}
