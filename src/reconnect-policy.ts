// What a lost link means and when to try again. socket.io-client owns the attempts and their
// backoff; what it does not know, and what is decided here, is:
// - a loss right after the page woke, was shown, resumed, was restored or came back online (or
//   such a signal right after a loss) is this page's own — its link died in the sleep or the
//   network change — so it reconnects and reloads at once, without the herd spread that gaps
//   shared by every client get;
// - a connection the server ends within KICK_WINDOW_MS of accepting it (expired session, ban,
//   connection cap) is a failed attempt, not a gap: socket.io resets its backoff on every close,
//   so without this such a server is asked again every ~1 s forever, and every cycle reloads;
// - the server's own disconnect ("io server disconnect"), which socket.io-client deliberately
//   leaves to the application.
import type { Clock } from './environment';
import type { GapReason } from './catch-up';
import type { Signal } from './environment';

/** How long after a wake/online-like signal a lost link counts as this page's own gap, in ms. */
export const SUSPECT_WINDOW_MS = 3000;
/** A connection the server ends sooner than this after accepting it was kicked, in ms. */
export const KICK_WINDOW_MS = 2000;

/** socket.io's reconnection settings, read at decision time (the app may change them). */
export interface Backoff {
  /** `reconnectionDelay`, ms. */
  base(): number;
  /** `reconnectionDelayMax`, ms. */
  max(): number;
  /** `randomizationFactor`, in [0, 1]. */
  factor(): number;
}

/** What to do about a lost link. */
export type LossDecision =
  /** This page's own gap: reconnect at once. */
  | { retry: 'now'; gap: GapReason }
  /** Reconnect after `delayMs` (socket.io will not, or would too soon); `kicked` when the server ended a fresh connection. */
  | { retry: 'later'; gap: GapReason; delayMs: number; kicked: boolean }
  /** socket.io's own backoff takes care of it. */
  | { retry: 'socket.io'; gap: GapReason };

/** The reconnect policy of one connection. */
export interface ReconnectPolicy {
  /** The link is up. */
  connected(): void;
  /** Whether the gap's reload may run on connect: no kicks in a row before this connection. */
  settled(): boolean;
  /** The connection lived past its kick window: kicks are forgotten. */
  survived(): void;
  /** Consecutive connections ended early by the server. */
  kicks(): number;
  /** Decides about a loss the socket reported. */
  lost(gap: GapReason): LossDecision;
  /** A browser signal arrived; returns the local gap a recent loss turns into, if it does. */
  signalled(signal: Signal): GapReason | null;
}

/** Losses that can be this page's own (a server's deliberate disconnect never is). */
const MAY_BE_LOCAL: ReadonlySet<GapReason> = new Set<GapReason>(['transport-close', 'transport-error', 'ping-timeout']);

/** Creates the policy; `random` in [0, 1). */
export function createReconnectPolicy(clock: Clock, backoff: Backoff, random: () => number = Math.random): ReconnectPolicy {
  let suspect: { at: number; gap: GapReason } | null = null;
  let lostAt = -Infinity;
  let connectedAt: number | null = null;
  let kicks = 0;

  const within = (since: number, ms: number): boolean => clock.now() - since < ms;

  return {
    connected() {
      connectedAt = clock.now();
    },
    // One early end may be a restart right after connecting: its reload is not held back (it
    // takes the bridge's refetch slot like everyone's). From the second in a row, a kick: held.
    settled: () => kicks < 2,
    survived() {
      kicks = 0;
    },
    kicks: () => kicks,
    lost(gap) {
      const upFor = connectedAt === null ? Infinity : clock.now() - connectedAt;
      connectedAt = null;
      lostAt = clock.now();
      // A connection that outlived the kick window ends the row: an early end after it is a first one again.
      if (upFor >= KICK_WINDOW_MS) kicks = 0;
      if (suspect && within(suspect.at, SUSPECT_WINDOW_MS) && MAY_BE_LOCAL.has(gap)) return { retry: 'now', gap: suspect.gap };
      if (upFor < KICK_WINDOW_MS && ++kicks > 1) {
        // The second fresh connection ended in a row: the server kicks us. (One alone may be a
        // restart that happened right after we connected: that one is retried as usual.)
        // Exponential, capped, jittered upwards only, so that a server kicking every connection
        // sees at most 8 in 30 s whatever the dice say.
        const delay = Math.min(backoff.max(), backoff.base() * 2 ** (kicks - 1));
        return { retry: 'later', gap, kicked: true, delayMs: Math.floor(Math.min(backoff.max(), delay * (1 + backoff.factor() * random()))) };
      }
      // A fleet disconnected by a restarting server must not come back in the same instant.
      if (gap === 'server-disconnect') return { retry: 'later', gap, kicked: false, delayMs: Math.floor(random() * backoff.base()) };
      return { retry: 'socket.io', gap };
    },
    signalled(signal) {
      if (signal === 'offline') return null;
      const gap: GapReason = signal === 'online' ? 'offline' : 'dead-link';
      suspect = { at: clock.now(), gap };
      return within(lostAt, SUSPECT_WINDOW_MS) ? gap : null;
    },
  };
}
