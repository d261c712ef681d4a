// What the change log says of a connection's subscriptions, as the greeting (and a live
// subscribe's ack) tells the client: per subscription, what it missed since the position it sent
// (`ok`, with the messages), that the log cannot tell (`refetch`), or where it starts (`new`).
// Read once the connection is accepted, so that any change after the read reaches it live.
import type { ChangeLog, LogPosition, LogReply } from './change-log.js';
import type { BridgeLogger } from './logger.js';
import type { Subscription } from './messages.js';

/** One subscription's line in the greeting's `positions`. */
export type PositionLine = { resource: string; scope?: string } & ({ status: 'new' | 'refetch'; epoch?: string; offset?: number } | { status: 'ok'; epoch: string; offset: number; changes: string[] });

/**
 * How long the greeting waits for the change log, in ms; past it the client refetches. Long enough
 * for a bridge swamped by a restart's reconnection wave (a refetch costs the app far more than the
 * wait); a Redis that is down fails at once, not after this.
 */
export const LOG_READ_TIMEOUT_MS = 5000;

/** A subscription's resource and scope, without its position. */
export const named = ({ resource, scope }: Subscription): { resource: string; scope?: string } => (scope === undefined ? { resource } : { resource, scope });

const unavailable: LogReply = { status: 'refetch', position: null, reason: 'unavailable' };

/** The greeting's line for one subscription. */
function lineOf(subscription: Subscription, reply: LogReply): PositionLine {
  if (reply.status === 'ok') return { ...named(subscription), status: 'ok', epoch: reply.position.epoch, offset: reply.position.offset, changes: reply.messages };
  const at: Partial<LogPosition> = reply.position ?? {};
  return { ...named(subscription), status: reply.status, ...at };
}

/**
 * Reads the lines of a list of subscriptions, all at once; every one is `refetch` when the log
 * fails or does not answer within LOG_READ_TIMEOUT_MS. None without a log.
 */
export function createPositionReader(log: ChangeLog | null, logger: BridgeLogger): (subscriptions: Subscription[]) => Promise<PositionLine[]> {
  return async (subscriptions) => {
    if (!log || subscriptions.length === 0) return [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LOG_READ_TIMEOUT_MS)));
    const reads = Promise.all(subscriptions.map((subscription) => log.since(subscription.resource, subscription.scope, subscription.position).catch(() => unavailable)));
    const replies = await Promise.race([reads, late]);
    clearTimeout(timer);
    if (replies === null) logger.warn(`the change log did not answer within ${LOG_READ_TIMEOUT_MS} ms; clients refetch`);
    return subscriptions.map((subscription, index) => lineOf(subscription, replies?.[index] ?? unavailable));
  };
}
