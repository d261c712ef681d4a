// The life of one subscription, and what happens after a gap — read top to bottom:
//
//   subscribe → live → load → changes → gap → reload (→ retry until it succeeds)
//
// - subscribe: `add()`. The subscription is not live until its changes can reach this page
//   (the connection is up and, with the bridge, its room is joined).
// - live: `live(key)`. A subscription that is live and not yet loaded since it became live runs
//   its `refetch` at once (reason 'subscribed'). One that is not live within FIRST_PAINT_WAIT_MS
//   loads anyway, so the page has data while the socket struggles, and loads again once live.
// - load: every run has a deadline; past it the run's `signal` is aborted (taking a request
//   stuck on a dead pooled connection with it) and the run counts as failed.
// - changes: delivered to the handler in order — except while a refetch of the same
//   subscription is in flight: then they are held and handed over, in order, once the refetch
//   settles, so an older snapshot can never overwrite them (hold-and-release).
// - gap: `gap(reason, covered)`. The link came back after a gap socket.io did not recover: every
//   live subscription reloads — except those the bridge's change log covered (replay.ts: their
//   missed changes were replayed) — at once for a gap local to this page, spread over `spreadMs`
//   (or the bridge's refetch slot, `reschedule()`) for gaps every client of the server shares.
// - retry: a failed run is retried with capped, jittered exponential backoff until it succeeds,
//   a new gap or becoming live again restarts the cycle, or the subscription is removed.
// Hand-written: this is the catch-up that the library exists for; no dependency does it.
import type { Clock, TimerHandle } from './environment';
import type { Change } from './messages';

/**
 * Why the connection had a gap (and so why refetches run). `'hand-over'`: with `shareTabs`, this
 * tab's feed from the shared connection was interrupted — the leader tab closed, froze or went
 * silent and another took over, or this tab was frozen or restored from the back/forward cache.
 */
export type GapReason = 'transport-close' | 'transport-error' | 'ping-timeout' | 'server-disconnect' | 'offline' | 'dead-link' | 'server-resync' | 'hand-over';

/**
 * Why a refetch runs: the subscription just became live (`'subscribed'`), the app asked for it
 * (`'requested'`, `live.refetch()`), or the gap it closes.
 */
export type RefetchReason = 'subscribed' | 'requested' | GapReason;

/** Passed to a `refetch` callback. */
export interface RefetchContext {
  /** The subscribed resource. */
  resource: string;
  /** The subscription's scope, if it has one. */
  scope?: string;
  /** Why this run happens. */
  reason: RefetchReason;
  /** 1 for the first attempt of this catch-up, 2 for its first retry, and so on. */
  attempt: number;
  /** Aborted past the run's deadline, on a local gap, on unsubscribe and on `close()`: pass it to `fetch`. */
  signal: AbortSignal;
}

/** Reloads a resource's data. May return a promise; a rejection, a throw or a missed deadline is a failed attempt. */
export type RefetchFn = (context: RefetchContext) => unknown;

// ---- Policy knobs ----------------------------------------------------------------------------
/** A subscription not live this long after it was made loads anyway (first paint), and again once live. */
export const FIRST_PAINT_WAIT_MS = 1000;
/**
 * Deadlines adapt to the API's measured latency as TCP's retransmission timeout does (RFC 6298:
 * SRTT + 4·RTTVAR, doubled per consecutive timeout), between this floor and `refetchTimeoutMs`.
 * The floor is lower than TCP's 1 s because a timed-out run is retried at once: what it costs is
 * one extra request, what it buys is a page fresh within ~1.5 s of wake when its pooled HTTP
 * connections died in the sleep.
 */
export const MIN_DEADLINE_MS = 200;
/**
 * Timeouts in a row before the deadline starts doubling. After a sleep every idle connection in
 * the browser's pool may be dead (3–4 after a page load, measured in Chromium), and each aborted
 * attempt uses one up: those attempts keep the short deadline. A slow API, not a dead pool,
 * shows as more timeouts in a row than that, and then gets doubled deadlines.
 */
export const DEAD_CONNECTION_TIMEOUTS = 4;
/** Retry backoff after a failed run: 1 s, 2 s, 4 s … capped, each × a random factor in [0.5, 1). */
export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/**
 * The wait before retry number `attempt` (1 = the first retry), in ms: the rule above. Shared with
 * the subscriptions' retries of passing refusals (src/subscriptions.ts). `random` in [0, 1).
 */
export const retryDelay = (attempt: number, random: () => number): number => Math.floor(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1)) * (0.5 + random() / 2));

/** Gaps that hit every client of a server at once: their reloads are spread out. */
const SHARED_GAPS: ReadonlySet<RefetchReason> = new Set<RefetchReason>(['transport-close', 'transport-error', 'ping-timeout', 'server-disconnect', 'server-resync']);
/** Whether a gap of this kind likely hit many clients at once (a restart, a network drop). */
export const isSharedGap = (reason: RefetchReason): boolean => SHARED_GAPS.has(reason);

/** A failed refetch attempt, as reported to the instance. */
export interface RefetchFailure {
  resource: string;
  scope: string | undefined;
  attempt: number;
  /** The run missed its deadline (its signal was aborted). */
  timedOutAfterMs?: number;
  cause: unknown;
}

/** Options of {@link createCatchUp}. */
export interface CatchUpOptions {
  clock: Clock;
  /** Upper bound of the random delay before reloads after a shared gap, in ms. */
  spreadMs: number;
  /** Deadline of one refetch attempt before the API's latency is known, and the cap of every deadline, in ms. */
  timeoutMs: number;
  /** Whether (resource, scope) is live right now. */
  isLive(key: string): boolean;
  onRefetchFailed(failure: RefetchFailure): void;
  onHandlerError(resource: string, cause: unknown): void;
  /** Source of randomness in [0, 1). */
  random?: () => number;
}

/** One subscription's part in the catch-up. */
export interface Member {
  /** Hands a change to the subscriber, or holds it while a refetch is in flight. */
  deliver(change: Change): void;
  /** Resolves once the subscription is live and loaded (never rejects). */
  ready: Promise<void>;
  /** Ends the subscription: aborts its run, drops held changes and timers. Idempotent. */
  release(): void;
}

/** The catch-up of one live-updates instance. */
export interface CatchUp {
  add(key: string, resource: string, scope: string | undefined, handler: (change: Change) => void, refetch?: RefetchFn): Member;
  /** The subscriptions of `key` became live (connection up, room joined). */
  live(key: string): void;
  /** The subscriptions of `key` are no longer live without a connection gap (refused, re-asked). */
  unlive(key: string): void;
  /** The connection was lost: nothing is live (of the keys `only` accepts, when given: one link of several). */
  lost(only?: (key: string) => boolean): void;
  /** socket.io recovered the connection (nothing missed since): reloads that a gap left unfinished run now. */
  recovered(): void;
  /** Reloads the subscriptions of `resource` (of `scope` only, when given) now (the app asked), through the same cycle. */
  refetch(resource: string, scope?: string): void;
  /** The bridge refused the subscriptions of `key` for good (forbidden, invalid): no loads until they are live. */
  refused(key: string): void;
  /**
   * The connection is back after a gap socket.io did not recover: every live subscription reloads,
   * except those whose key the bridge's change log `covered` (their missed changes were replayed).
   * Returns how many subscriptions reload. `only`: the keys this gap concerns (one link of several).
   */
  gap(reason: GapReason, covered?: ReadonlySet<string>, only?: (key: string) => boolean): number;
  /** Moves reloads still waiting out a shared-gap spread to `delayMs` from now (the bridge's slot). */
  reschedule(delayMs: number): void;
  /** Ends every subscription. */
  clear(): void;
}

interface Run {
  reason: RefetchReason;
  controller: AbortController;
  attempt: number;
  startedAt: number;
  startedLive: boolean;
  /** The entry's `epoch` when the run started. */
  epoch: number;
  deadline: TimerHandle;
  deadlineMs: number;
  held: Change[];
}

interface Entry {
  key: string;
  resource: string;
  scope: string | undefined;
  handler: (change: Change) => void;
  refetch: RefetchFn | undefined;
  live: boolean;
  /** Needs a successful run that started while live. */
  stale: boolean;
  /** Why it is stale: it never loaded since it became live, or the gap whose reload did not complete. */
  staleReason: RefetchReason;
  /**
   * Counts what makes a load in flight insufficient: a gap after it started (it may predate
   * changes lost in the gap), or a refusal (it started while the subscription only looked live,
   * before the bridge's verdict). Only a run that started in the current epoch clears `stale`.
   */
  epoch: number;
  /** A run waiting for its time: after a spread, a backoff or the first-paint wait. */
  waiting: { reason: RefetchReason; at: number; timer: TimerHandle; spread: boolean } | null;
  running: Run | null;
  /** Asked for while a run was in flight: runs when it settles, at `at` (a shared gap's spread or the bridge's slot) or at once. */
  queued: { reason: RefetchReason; at: number | null } | null;
  /** Attempts in the current catch-up; timed-out attempts in a row. */
  attempts: number;
  timeouts: number;
  /** RFC 6298 estimator of the refetch's latency, ms. */
  srtt: number | null;
  rttvar: number;
  resolveReady: () => void;
}

const isThenable = (value: unknown): value is PromiseLike<unknown> => typeof (value as PromiseLike<unknown> | null)?.then === 'function';

/** Creates the catch-up of one instance. */
export function createCatchUp(options: CatchUpOptions): CatchUp {
  const { clock, spreadMs, timeoutMs } = options;
  const random = options.random ?? Math.random;
  const entries = new Set<Entry>();

  const handOver = (entry: Entry, change: Change): void => {
    try {
      entry.handler(change);
    } catch (cause) {
      options.onHandlerError(entry.resource, cause);
    }
  };

  const checkReady = (entry: Entry): void => {
    if (entry.live && !entry.stale) entry.resolveReady();
  };

  /** Asks for a run of `entry` in `delayMs`; an earlier request wins over a later one. */
  const request = (entry: Entry, reason: RefetchReason, delayMs: number, spread = false): void => {
    if (!entries.has(entry) || !entry.refetch) return;
    if (entry.running) {
      if (entry.queued === null || entry.queued.reason === 'subscribed') entry.queued = { reason, at: spread ? clock.now() + delayMs : null };
      return;
    }
    const at = clock.now() + delayMs;
    if (entry.waiting) {
      if (entry.waiting.at <= at) return;
      clock.clearTimeout(entry.waiting.timer);
    }
    entry.waiting = { reason, at, spread, timer: clock.setTimeout(() => start(entry, reason), delayMs) };
  };

  const cancelWaiting = (entry: Entry): void => {
    if (entry.waiting) clock.clearTimeout(entry.waiting.timer);
    entry.waiting = null;
  };

  /** A new trigger (live, gap): the catch-up starts over, attempts and backoff forgotten. */
  const restart = (entry: Entry, reason: RefetchReason, delayMs: number, spread = false): void => {
    // A retry waiting out its backoff: this trigger replaces it.
    if (!entry.running && !entry.waiting?.spread && entry.attempts > 0) cancelWaiting(entry);
    if (!entry.running) entry.attempts = 0;
    request(entry, reason, delayMs, spread);
  };

  const deadlineOf = (entry: Entry, reason: RefetchReason): number => {
    const estimate = entry.srtt === null ? timeoutMs : Math.max(MIN_DEADLINE_MS, entry.srtt + 4 * entry.rttvar);
    // After a gap local to this page (a sleep, a network change) a timeout most likely used up one
    // dead pooled connection, not the API's patience: the first few keep the short deadline.
    const free = reason === 'dead-link' || reason === 'offline' ? DEAD_CONNECTION_TIMEOUTS - 1 : 0;
    return Math.min(timeoutMs, estimate * 2 ** Math.max(0, entry.timeouts - free));
  };

  const start = (entry: Entry, reason: RefetchReason): void => {
    entry.waiting = null;
    if (!entries.has(entry) || !entry.refetch) return;
    const deadlineMs = deadlineOf(entry, reason);
    const run: Run = {
      reason,
      controller: new AbortController(),
      attempt: ++entry.attempts,
      startedAt: clock.now(),
      startedLive: entry.live,
      epoch: entry.epoch,
      deadlineMs,
      deadline: clock.setTimeout(() => settle(entry, run, { ok: false, timedOut: true, cause: new Error(`no answer within ${deadlineMs} ms`) }), deadlineMs),
      held: [],
    };
    entry.running = run;
    const { resource, scope } = entry;
    const context: RefetchContext = { resource, ...(scope === undefined ? {} : { scope }), reason, attempt: run.attempt, signal: run.controller.signal };
    try {
      const result = entry.refetch(context);
      // A refetch that returns no promise is done when it returns.
      if (!isThenable(result)) return settle(entry, run, { ok: true });
      result.then(
        () => settle(entry, run, { ok: true }),
        (cause: unknown) => settle(entry, run, { ok: false, timedOut: false, cause }),
      );
    } catch (cause) {
      settle(entry, run, { ok: false, timedOut: false, cause });
    }
  };

  /**
   * Ends a run without a verdict (a local gap superseded it, a refusal, the subscription ended);
   * the changes it held go to a subscription still there.
   */
  const abandon = (entry: Entry): void => {
    const run = entry.running;
    if (!run) return;
    entry.running = null;
    clock.clearTimeout(run.deadline);
    run.controller.abort();
    for (const change of run.held) if (entries.has(entry)) handOver(entry, change);
  };

  /** Its changes no longer reach this page, without a connection gap: what it loaded meanwhile proves nothing. */
  const markNotLive = (entry: Entry): void => {
    entry.live = false;
    entry.epoch++;
    entry.staleReason = 'subscribed';
    if (entry.refetch) entry.stale = true;
  };

  type Outcome = { ok: true } | { ok: false; timedOut: boolean; cause: unknown };
  const settle = (entry: Entry, run: Run, outcome: Outcome): void => {
    if (entry.running !== run) return; // abandoned, or already timed out
    entry.running = null;
    clock.clearTimeout(run.deadline);
    if (outcome.ok) {
      const sample = clock.now() - run.startedAt;
      if (entry.srtt === null) {
        entry.srtt = sample;
        entry.rttvar = sample / 2;
      } else {
        entry.rttvar = 0.75 * entry.rttvar + 0.25 * Math.abs(entry.srtt - sample);
        entry.srtt = 0.875 * entry.srtt + 0.125 * sample;
      }
      entry.attempts = 0;
      entry.timeouts = 0;
      // A load that started while live covers everything up to its start; a loss since is a gap of its own.
      if (run.startedLive && run.epoch === entry.epoch) entry.stale = false;
    } else {
      if (outcome.timedOut) {
        entry.timeouts++;
        run.controller.abort(outcome.cause);
      }
      options.onRefetchFailed({
        resource: entry.resource,
        scope: entry.scope,
        attempt: run.attempt,
        ...(outcome.timedOut ? { timedOutAfterMs: run.deadlineMs } : {}),
        cause: outcome.cause,
      });
    }
    // The snapshot (if any) is in: now the changes that arrived meanwhile, in order.
    for (const change of run.held) if (entries.has(entry)) handOver(entry, change);
    if (!entries.has(entry)) return;
    checkReady(entry);
    const queued = entry.queued;
    entry.queued = null;
    if (queued !== null) restart(entry, queued.reason, queued.at === null ? 0 : Math.max(0, queued.at - clock.now()), queued.at !== null);
    else if (!outcome.ok) {
      // A timed-out run took its (probably dead) connection with it, and its deadline already
      // spaced the attempts: retry at once. A refusal (503…) waits out a backoff.
      request(entry, run.reason, outcome.timedOut ? 0 : retryDelay(run.attempt, random));
    } else if (entry.live && entry.stale) restart(entry, 'subscribed', 0);
  };

  const remove = (entry: Entry): void => {
    if (!entries.delete(entry)) return;
    cancelWaiting(entry);
    abandon(entry);
  };

  return {
    add(key, resource, scope, handler, refetch) {
      let resolveReady!: () => void;
      const ready = new Promise<void>((resolve) => (resolveReady = resolve));
      const entry: Entry = { key, resource, scope, handler, refetch, live: options.isLive(key), stale: refetch !== undefined, staleReason: 'subscribed', epoch: 0, waiting: null, running: null, queued: null, attempts: 0, timeouts: 0, srtt: null, rttvar: 0, resolveReady };
      entries.add(entry);
      if (entry.live) request(entry, 'subscribed', 0);
      else request(entry, 'subscribed', FIRST_PAINT_WAIT_MS);
      checkReady(entry);
      return {
        deliver(change) {
          if (entry.running) entry.running.held.push(change);
          else handOver(entry, change);
        },
        ready,
        release: () => remove(entry),
      };
    },
    live(key) {
      for (const entry of entries) {
        if (entry.key !== key || entry.live) continue;
        entry.live = true;
        // Never loaded while live (new, or refused until now): load. Stale from a gap whose reload
        // did not complete: that reload is the connection's to ask for (`gap()`, which it holds
        // back while a server keeps kicking, or `recovered()`).
        if (entry.stale && entry.staleReason === 'subscribed') restart(entry, 'subscribed', 0);
        checkReady(entry);
      }
    },
    recovered() {
      for (const entry of entries) if (entry.live && entry.stale && entry.staleReason !== 'subscribed') restart(entry, entry.staleReason, 0);
    },
    unlive(key) {
      for (const entry of entries) if (entry.key === key) markNotLive(entry);
    },
    lost(only) {
      for (const entry of entries) if (!only || only(entry.key)) entry.live = false;
    },
    refetch(resource, scope) {
      for (const entry of entries) if (entry.resource === resource && (scope === undefined || entry.scope === scope)) restart(entry, 'requested', 0);
    },
    refused(key) {
      for (const entry of entries) {
        if (entry.key !== key) continue;
        markNotLive(entry);
        cancelWaiting(entry);
        entry.queued = null;
        abandon(entry);
      }
    },
    gap(reason, covered, only) {
      const shared = isSharedGap(reason);
      let reloads = 0;
      for (const entry of entries) {
        if (!entry.live || !entry.refetch || covered?.has(entry.key) || (only && !only(entry.key))) continue;
        reloads++;
        entry.stale = true;
        entry.staleReason = reason;
        entry.epoch++;
        // A local gap (sleep, offline, dead link): the run in flight most likely hangs on a
        // connection that died with the link. Abort it and start over at once.
        if (!shared) abandon(entry);
        restart(entry, reason, shared ? Math.floor(random() * spreadMs) : 0, shared && spreadMs > 0);
      }
      return reloads;
    },
    reschedule(delayMs) {
      for (const entry of entries) {
        if (entry.queued?.at != null) entry.queued.at = clock.now() + delayMs;
        const waiting = entry.waiting;
        if (!waiting?.spread) continue;
        clock.clearTimeout(waiting.timer);
        entry.waiting = { ...waiting, at: clock.now() + delayMs, timer: clock.setTimeout(() => start(entry, waiting.reason), delayMs) };
      }
    },
    clear: () => [...entries].forEach(remove),
  };
}
