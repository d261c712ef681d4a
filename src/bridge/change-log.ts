// The change log: every change published through it gets an offset in its resource's (and
// scope's) log, and the log keeps recent changes so that a client back from a gap is sent what it
// missed instead of refetching. The model is Centrifugo's history (offset + epoch per channel,
// trimmed by size and age) and Discourse message_bus's backlog:
// - an offset counts the changes of one log, 1, 2, 3…, with no holes;
// - an epoch names one life of a log: it changes when the log was lost (a Redis FLUSHALL, a
//   failover to a replica without the data, a log idle past META_TTL_MS), so an offset from an
//   older life is never taken for one of this life;
// - a change published without the log (plain `PUBLISH rt-change`) carries no offset: it takes
//   an offset of its own with no entry (`unlogged`), so a replay across it is refused (the client
//   refetches) while a position handed out after it is not.
// Two implementations share the rules: the in-memory one here (the embedded bus, the demo) and
// Redis functions (redis-log.ts), so that backends in any language append and publish in one
// atomic command. Hand-written: no dependency keeps per-key replay logs for socket.io.
import type { Bus } from './bus.js';
import { keyOf } from '../subscriptions.js';

/** Where a client stands in one log. */
export interface LogPosition {
  epoch: string;
  /** The last offset the client has (0: none yet). */
  offset: number;
}

/** Why the log cannot cover a client's gap (it refetches instead). */
export type NotCovered = 'epoch' | 'trimmed' | 'unlogged' | 'unavailable';

/**
 * The log's answer to a returning client: `new` (it had no position: here is one), `ok` (these
 * messages, in order, are what it missed; none when nothing was), or `refetch` (the log cannot
 * tell what it missed). Each carries the position to remember.
 */
export type LogReply =
  | { status: 'new'; position: LogPosition }
  | { status: 'ok'; position: LogPosition; messages: string[] }
  | { status: 'refetch'; position: LogPosition | null; reason: NotCovered };

/** Limits of the log. */
export interface LogLimits {
  /** Most changes kept per log. */
  maxLength: number;
  /** Changes older than this are dropped, in ms. */
  maxAgeMs: number;
}

/** The change log of one bridge. */
export interface ChangeLog {
  /**
   * Appends a validated change (its JSON, an object) to its log and publishes it, with `offset`
   * and `epoch` added, on the change channel, in one atomic step. Resolves with its position.
   */
  publish(json: string, resource: string, scope: string | undefined): Promise<LogPosition>;
  /** What a client at `position` (or without one) missed in the log of (resource, scope). */
  since(resource: string, scope: string | undefined, position: LogPosition | undefined): Promise<LogReply>;
  /**
   * A change of (resource, scope) went by without an offset: replays from before it are refused.
   * Must be called before the change is delivered to local clients, so that a client joining
   * after the delivery reads the mark.
   */
  unlogged(resource: string, scope: string | undefined): void;
}

/** How long a log's epoch and last offset outlive its last change or read, in ms (24 h). */
export const META_TTL_MS = 24 * 60 * 60 * 1000;

/** Default limits: 1,000 changes or 10 minutes per log, whichever is less (see the README's sizing). */
export const LOG_DEFAULTS: LogLimits = { maxLength: 1000, maxAgeMs: 10 * 60 * 1000 };

/** Adds the log's position to a change's JSON object, last, so it wins over keys of the same name. */
export function stamp(json: string, position: LogPosition): string {
  const end = json.lastIndexOf('}');
  return `${json.slice(0, end)},"offset":${position.offset},"epoch":${JSON.stringify(position.epoch)}}`;
}

/**
 * The rule both implementations follow, given a log's state: what a client at `position` missed.
 * `entries` are the log's kept changes, oldest first, with contiguous offsets ending at `top`.
 */
export function coverage(
  log: { epoch: string; top: number; unlogged: number | null; entries: ReadonlyArray<{ offset: number; message: string }> },
  position: LogPosition | undefined,
  maxLength: number,
): LogReply {
  const here: LogPosition = { epoch: log.epoch, offset: log.top };
  if (!position) return { status: 'new', position: here };
  if (position.epoch !== log.epoch || position.offset > log.top) return { status: 'refetch', position: here, reason: 'epoch' };
  if (log.unlogged !== null && position.offset < log.unlogged) return { status: 'refetch', position: here, reason: 'unlogged' };
  const missed = log.top - position.offset;
  if (missed === 0) return { status: 'ok', position: here, messages: [] };
  const first = log.entries.length - missed;
  if (missed > maxLength || first < 0 || log.entries[first]?.offset !== position.offset + 1) return { status: 'refetch', position: here, reason: 'trimmed' };
  return { status: 'ok', position: here, messages: log.entries.slice(first).map((entry) => entry.message) };
}

const SWEEP_EVERY = 1000;

interface MemoryEntry {
  offset: number;
  at: number;
  message: string;
}
interface MemoryLog {
  epoch: string;
  top: number;
  unlogged: number | null;
  entries: MemoryEntry[];
  touchedAt: number;
}

/** Options of {@link createMemoryLog}. */
export interface MemoryLogOptions extends LogLimits {
  bus: Bus;
  channel: string;
  /** Wall clock in ms. */
  now?: () => number;
}

/** The log kept in this process's memory, for the embedded bus. */
export function createMemoryLog(options: MemoryLogOptions): ChangeLog {
  const { bus, channel, maxLength, maxAgeMs } = options;
  const now = options.now ?? Date.now;
  const logs = new Map<string, MemoryLog>();
  let lives = 0;
  let opened = 0;

  const trim = (log: MemoryLog, at: number): void => {
    const oldest = at - maxAgeMs;
    let drop = Math.max(0, log.entries.length - maxLength);
    while (drop < log.entries.length && (log.entries[drop] as MemoryEntry).at < oldest) drop++;
    if (drop > 0) log.entries.splice(0, drop);
  };
  /** The log of a key, started (new epoch) when missing or idle past META_TTL_MS, as in Redis. */
  const open = (key: string): MemoryLog => {
    const at = now();
    // Redis expires idle logs by itself; here, a sweep every SWEEP_EVERY opens does.
    if (++opened % SWEEP_EVERY === 0) for (const [other, log] of logs) if (at - log.touchedAt > META_TTL_MS) logs.delete(other);
    let log = logs.get(key);
    if (!log || at - log.touchedAt > META_TTL_MS) {
      log = { epoch: `${at.toString(36)}.${(++lives).toString(36)}`, top: 0, unlogged: null, entries: [], touchedAt: at };
      logs.set(key, log);
    }
    log.touchedAt = at;
    trim(log, at);
    return log;
  };

  return {
    async publish(json, resource, scope) {
      const log = open(keyOf(resource, scope));
      const position = { epoch: log.epoch, offset: log.top + 1 };
      const message = stamp(json, position);
      // Logged and delivered in the same task, as the Redis function does in one script.
      log.top = position.offset;
      log.entries.push({ offset: position.offset, at: now(), message });
      trim(log, now());
      await bus.publish(channel, message);
      return position;
    },
    async since(resource, scope, position) {
      return coverage(open(keyOf(resource, scope)), position, maxLength);
    },
    unlogged(resource, scope) {
      const log = logs.get(keyOf(resource, scope));
      if (log) log.unlogged = ++log.top;
    },
  };
}
