// Where this page stands in each subscription's change log, and the replay of what it missed.
// Against a bridge with a change log, every change carries `offset` (1, 2, 3… per resource and
// scope, no holes) and `epoch` (one life of that log). The page keeps the last offset of each
// subscription and sends it in the next handshake; the bridge's greeting then brings, per
// subscription, the changes missed since (`ok`), or says the log cannot tell (`refetch`: too
// old, trimmed, a new epoch, a change published without the log). Between the connection and the
// greeting, live changes are held, so that the replay goes first; a change already had (same
// epoch, offset not above the last one) is dropped, which is how replayed and live deliveries
// are deduped. Changes without an offset (plain PUBLISH, plain servers) pass through untouched.
// Hand-written: this is the catch-up the library exists for.
import type { Clock, TimerHandle } from './environment';
import { parseChange, type Change, type LogLine } from './messages';
import { keyOf } from './subscriptions';

/** Where a subscription stands in its log. */
export interface Position {
  epoch: string;
  offset: number;
}

/**
 * How long a connection waits for the greeting before it gives up on a replay and refetches, in ms:
 * longer than the bridge gives its change log (5 s), so that a swamped bridge's verdict still counts.
 */
export const GREETING_WAIT_MS = 10_000;

/** Options of {@link createReplay}. */
export interface ReplayOptions {
  clock: Clock;
  /** Hands a change on (to the router). */
  deliver(change: Change): void;
  /** A replayed message that does not parse. */
  onInvalid(reason: string, cause: unknown): void;
  /** No greeting came within GREETING_WAIT_MS: what was held went on, nothing counts as replayed. */
  onGreetingMissed(): void;
  /**
   * Where the subscriptions stand already (a tab taking over the shared connection from another):
   * sent in the first handshake, and the first connection waits for the greeting.
   */
  positions?: ReadonlyMap<string, Position>;
  /** A position moved without a change (acknowledged, or read from the greeting). */
  onAdvance?(key: string, position: Position): void;
}

/** The replay side of one instance. */
export interface Replay {
  /** The position to send for `key` in the next handshake. */
  positionOf(key: string): Position | undefined;
  /** A live change: delivered (unless already had), or held while a greeting is awaited. */
  receive(change: Change): void;
  /** The link is up: when the bridge keeps a log, hold live changes until its greeting. */
  connected(): void;
  /** Whether the greeting of this connection is still awaited. */
  awaiting(): boolean;
  /** The greeting's log lines: replays what was missed, then what was held. Returns the keys it covered. */
  greeted(lines: LogLine[] | undefined): ReadonlySet<string>;
  /** The keys the greeting of the current connection covered. */
  covered(): ReadonlySet<string>;
  /** A live subscribe was acknowledged at this position. */
  acknowledged(key: string, position: Position): void;
  /** The page no longer subscribes to `key`. */
  forget(key: string): void;
  /** The link is down. */
  lost(): void;
  /** Stops the greeting timer. */
  close(): void;
}

const positionOfChange = (change: Change): Position | null =>
  typeof change.offset === 'number' && typeof change.epoch === 'string' ? { epoch: change.epoch, offset: change.offset } : null;

/** Creates the replay side of one instance. */
export function createReplay(options: ReplayOptions): Replay {
  const { clock } = options;
  const positions = new Map<string, Position>(options.positions ?? []);
  /** The bridge said it keeps a log (or positions were handed over): the next connection's greeting brings replays. */
  let logged = positions.size > 0;
  let held: Change[] | null = null;
  let timer: TimerHandle | null = null;
  let covered: ReadonlySet<string> = new Set();

  /** Moves `key` to `position` unless it is already further in the same epoch. */
  const advance = (key: string, position: Position): void => {
    const known = positions.get(key);
    if (known && known.epoch === position.epoch && position.offset <= known.offset) return;
    positions.set(key, position);
    options.onAdvance?.(key, position);
  };
  /** Delivers a change unless it was already had. */
  const accept = (change: Change): void => {
    const position = positionOfChange(change);
    if (position) {
      const key = keyOf(change.resource, change.scope ?? undefined);
      const known = positions.get(key);
      if (known && known.epoch === position.epoch && position.offset <= known.offset) return;
      positions.set(key, position);
    }
    options.deliver(change);
  };
  const release = (): void => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    const changes = held ?? [];
    held = null;
    changes.forEach(accept);
  };

  return {
    positionOf: (key) => positions.get(key),
    receive(change) {
      if (held) held.push(change);
      else accept(change);
    },
    connected() {
      covered = new Set();
      if (!logged) return;
      held = [];
      timer = clock.setTimeout(() => {
        timer = null;
        release();
        options.onGreetingMissed();
      }, GREETING_WAIT_MS);
    },
    awaiting: () => held !== null,
    greeted(lines) {
      logged = lines !== undefined;
      const done = new Set<string>();
      /** Where the log is for the lines that replay nothing: taken once the held changes are handed over. */
      const later: Array<[string, Position]> = [];
      for (const line of lines ?? []) {
        const key = keyOf(line.resource, line.scope);
        const at = line.epoch !== undefined && line.offset !== undefined ? { epoch: line.epoch, offset: line.offset } : null;
        if (line.status === 'ok') {
          for (const message of line.changes ?? []) {
            const parsed = parseChange(message);
            if (parsed.ok) accept(parsed.value);
            else options.onInvalid(parsed.reason, parsed.cause);
          }
          done.add(key);
          if (at) advance(key, at);
        } else if (at) {
          // A `new` or `refetch` line's offset counts changes published between the join and the
          // read of the log, which reached this page live (held now) and nothing else did: its
          // load may have read before them. Taken first, it would drop them as had.
          later.push([key, at]);
        }
      }
      covered = done;
      release();
      for (const [key, at] of later) advance(key, at);
      return done;
    },
    covered: () => covered,
    acknowledged: advance,
    forget(key) {
      positions.delete(key);
    },
    lost() {
      covered = new Set();
      release();
    },
    close() {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      held = null;
    },
  };
}
