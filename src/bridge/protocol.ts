// The subscription protocol, bridge side: resources are rooms, and a connection is in a room
// only once it asked for it and, for a private one, the app allowed it.
// - Handshake: the client's `auth.lu.subs` list is authorised and joined in a middleware, before
//   the connection is accepted, so a client that refetches on `connect` cannot miss a change.
//   Refusals do not fail the connection; they go out in the `lu:hello` greeting.
// - Live: `lu:subscribe` (acked `{ ok }` or `{ ok: false, code, message? }`; or a batch
//   `{ subs: [...] }`, acked `{ ok: true, results: [...] }`), `lu:unsubscribe`.
// - Legacy: a client without `auth.lu` (a plain socket.io-client) is put in LEGACY_ROOM and gets
//   every public unscoped change, as the tutorials' servers did; never a scoped or private one.
// - Replay: with a change log (change-log.ts), each handshake subscription may carry the client's
//   last log position (`epoch`, `offset`). Once the connection is accepted (so that every later
//   change reaches it live), the log is read: the greeting's `positions` say, per subscription,
//   what it missed (`status: 'ok'`, `changes`: the messages, in order), that the log cannot tell
//   (`'refetch'`), or where it starts (`'new'`). The client drops what it already has by offset.
//   A live `lu:subscribe` is acked with the position too.
// - Refetch slots: a client returning from a gap it shares with others asks for one in its
//   handshake (`refetch: true`); the greeting says when to refetch (`refetchDelayMs`), unless the
//   log covered every subscription (then it has nothing to refetch).
// Every inbound event goes through one token bucket per connection; a connection that keeps
// flooding after it is refused is disconnected.
import type { Server, Socket } from 'socket.io';
import { PROTOCOL } from '../subscriptions.js';
import type { Authorizer, Decision, RefusalCode } from './authorize.js';
import type { BridgeLogger } from './logger.js';
import { describeError } from './logger.js';
import { createSubscriptionParser, readHandshakeList } from './messages.js';
import type { Change, Subscription } from './messages.js';
import { createTokenBucket } from './rate-limit.js';
import type { RateLimit, TokenBucket } from './rate-limit.js';
import { LEGACY_ROOM, isResourceRoom, roomOf } from './rooms.js';
import type { ChangeLog } from './change-log.js';
import { createPositionReader, named } from './positions.js';

/** Event names of the protocol, taken from the client (src/subscriptions.ts) so the two cannot drift apart. */
export const PROTOCOL_EVENTS = { hello: PROTOCOL.hello, subscribe: PROTOCOL.subscribe, unsubscribe: PROTOCOL.unsubscribe } as const;

/** A refused subscription, as `lu:hello` lists it. */
export interface Refusal {
  resource: string;
  scope?: string;
  code: RefusalCode;
  message?: string;
}

/** What the protocol needs from the bridge's options. */
export interface ProtocolOptions {
  changeEvent: string;
  /** Asked for private subscriptions only. */
  authorizer: Authorizer;
  isPrivate: (resource: string, scope: string | undefined) => boolean;
  maxSubscriptions: number;
  maxNameLength: number;
  subscribeRate: RateLimit;
  /** How long the authorisation of a whole handshake list may take. */
  handshakeTimeoutMs: number;
  /** Books a refetch slot for a client returning from a shared gap (ms from now), or null when slots are off. */
  refetchSlot: () => number | null;
  /** The change log, or null when there is none (changes carry no offsets). */
  log: ChangeLog | null;
  logger: BridgeLogger;
}

/** The protocol attached to one socket.io server. */
export interface Protocol {
  /** Emits a change to the local sockets allowed to see it. */
  deliver(change: Change): void;
}

interface ConnectionState {
  denied: Refusal[];
  /** The handshake subscriptions joined, with the positions the client sent. */
  joined: Subscription[];
  /** It asked for a refetch slot (it returns from a shared gap). */
  wantsSlot: boolean;
  bucket: TokenBucket;
  /** Events refused in a row; reset by the next accepted one. */
  overflow: number;
  /** The latest live subscribe per room still waiting for its authorisation. */
  pending: Map<string, number>;
  sequence: number;
}

/** How many authorisations one handshake runs at once (an app's auth endpoint is not a flood target). */
const AUTH_CONCURRENCY = 8;

type Ack = (reply: unknown) => void;
/** The answer to one subscribe. */
type Reply = Decision | { ok: true; superseded: true } | { ok: true; epoch: string; offset: number };
const ackOf = (args: unknown[]): Ack => {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as Ack) : () => undefined;
};

/** Wires the protocol onto `io`'s main namespace. */
export function attachProtocol(io: Server, options: ProtocolOptions): Protocol {
  const { authorizer, isPrivate, maxSubscriptions, subscribeRate, handshakeTimeoutMs, logger } = options;
  const parse = createSubscriptionParser(options);
  const readPositions = createPositionReader(options.log, logger);
  const states = new WeakMap<Socket, ConnectionState>();
  const floodLimit = Math.max(20, subscribeRate.burst * 4);

  const stateOf = (socket: Socket): ConnectionState => {
    let state = states.get(socket);
    if (!state) states.set(socket, (state = { denied: [], joined: [], wantsSlot: false, bucket: createTokenBucket(subscribeRate), overflow: 0, pending: new Map(), sequence: 0 }));
    return state;
  };

  const authorise = (socket: Socket, { resource, scope }: Subscription): Promise<Decision> => {
    const { [PROTOCOL.authKey]: _protocol, ...auth } = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    return authorizer({ socketId: socket.id, resource, scope, headers: socket.handshake.headers, auth }).catch((error: unknown): Decision => {
      logger.error(`authoriser threw: ${describeError(error)}`);
      return { ok: false, code: 'unavailable' };
    });
  };

  const resourceRooms = (socket: Socket): string[] => [...socket.rooms].filter(isResourceRoom);

  /**
   * Makes the socket's rooms match the handshake list: leaves rooms not in it (a recovered
   * connection comes back with its old rooms), authorises and joins the rest. Resolves with
   * the refusals and the subscriptions joined.
   */
  const applyList = async (socket: Socket, list: unknown[]): Promise<{ denied: Refusal[]; joined: Subscription[] }> => {
    const denied: Refusal[] = [];
    const wanted = new Map<string, Subscription>();
    for (const entry of list) {
      const parsed = parse(entry);
      if (!parsed.ok) {
        if (parsed.resource !== undefined) denied.push({ resource: parsed.resource, ...(parsed.scope === undefined ? {} : { scope: parsed.scope }), code: 'invalid', message: parsed.error });
        continue;
      }
      const room = roomOf(parsed.value.resource, parsed.value.scope);
      if (wanted.size >= maxSubscriptions && !wanted.has(room)) denied.push({ ...named(parsed.value), code: 'invalid', message: `more than ${maxSubscriptions} subscriptions` });
      else wanted.set(room, parsed.value);
    }
    for (const room of resourceRooms(socket)) if (!wanted.has(room)) socket.leave(room);
    const entries = [...wanted];
    // One deadline for the whole list, so a slow auth service cannot hold a long list's
    // handshake past the client's connect timeout: what is not decided by then is 'unavailable'.
    const late: Decision = { ok: false, code: 'unavailable', message: 'authorisation timed out' };
    let expired = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<Decision>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve(late);
      }, handshakeTimeoutMs);
    });
    // Public subscriptions need no one's permission: they never wait behind private ones.
    const decisions = await mapLimited(entries, AUTH_CONCURRENCY, ([, subscription]) => {
      if (!isPrivate(subscription.resource, subscription.scope)) return Promise.resolve<Decision>({ ok: true });
      return expired ? Promise.resolve(late) : Promise.race([authorise(socket, subscription), deadline]);
    });
    clearTimeout(timer);
    const joined: Subscription[] = [];
    entries.forEach(([room, subscription], index) => {
      const decision = decisions[index] as Decision;
      if (decision.ok) {
        socket.join(room);
        joined.push(subscription);
      } else {
        // A recovered connection keeps its rooms while they are re-checked; one now refused goes.
        socket.leave(room);
        denied.push({ ...named(subscription), code: decision.code, ...(decision.message ? { message: decision.message } : {}) });
      }
    });
    return { denied, joined };
  };

  io.use((socket, next) => {
    const state = stateOf(socket);
    const list = readHandshakeList(socket.handshake.auth);
    if (!list) {
      socket.join(LEGACY_ROOM);
      return next();
    }
    state.wantsSlot = list.refetch;
    applyList(socket, list.subs).then(
      ({ denied, joined }) => {
        state.denied = denied;
        state.joined = joined;
        next();
      },
      (error: unknown) => {
        // Never fail a connection over subscriptions: it is accepted with none.
        logger.error(`handshake subscriptions failed: ${describeError(error)}`);
        next();
      },
    );
  });

  /** Decides one subscribe: joins at once (public) or after the app's authorisation (private). */
  const subscribeOne = async (socket: Socket, state: ConnectionState, payload: unknown): Promise<Reply> => {
    const parsed = parse(payload);
    if (!parsed.ok) return { ok: false, code: 'invalid', message: parsed.error };
    socket.leave(LEGACY_ROOM); // it speaks the protocol now: rooms only
    const { resource, scope } = parsed.value;
    const room = roomOf(resource, scope);
    if (!socket.rooms.has(room) && resourceRooms(socket).length + state.pending.size >= maxSubscriptions) {
      return { ok: false, code: 'invalid', message: `more than ${maxSubscriptions} subscriptions` };
    }
    if (!isPrivate(resource, scope)) {
      state.pending.delete(room);
      socket.join(room);
      return withPosition(parsed.value);
    }
    const ticket = ++state.sequence;
    state.pending.set(room, ticket);
    const decision = await authorise(socket, parsed.value);
    // An unsubscribe or a newer subscribe of the same room came meanwhile: that one decides.
    if (state.pending.get(room) !== ticket) return { ok: true, superseded: true };
    state.pending.delete(room);
    if (socket.connected) {
      if (decision.ok) socket.join(room);
      else socket.leave(room);
    }
    return decision.ok && socket.connected ? withPosition(parsed.value) : decision;
  };

  /** The ack of a subscription just joined: with its log position, read after the join, when there is a log. */
  const withPosition = async (subscription: Subscription): Promise<Reply> => {
    const [line] = await readPositions([named(subscription)]);
    return line?.epoch === undefined ? { ok: true } : { ok: true, epoch: line.epoch, offset: line.offset as number };
  };

  /**
   * `lu:subscribe` carries one subscription, or a batch `{ subs: [...] }` (what a page mounting many
   * components at once sends: one event, one token of the rate limit), answered in order as
   * `{ ok: true, results: [...] }`. The greeting says `batch: true` so clients know they may.
   */
  const onSubscribe = (socket: Socket, state: ConnectionState, payload: unknown, ack: Ack): void => {
    const batch = payload && typeof payload === 'object' && Array.isArray((payload as { subs?: unknown }).subs) ? ((payload as { subs: unknown[] }).subs) : null;
    if (!batch) {
      void subscribeOne(socket, state, payload).then(ack);
      return;
    }
    const items = batch.slice(0, maxSubscriptions);
    const over: Reply = { ok: false, code: 'invalid', message: `more than ${maxSubscriptions} subscriptions in one batch` };
    void Promise.all(items.map((item) => subscribeOne(socket, state, item))).then((results) => ack({ ok: true, results: [...results, ...batch.slice(items.length).map(() => over)] }));
  };

  const onUnsubscribe = (socket: Socket, state: ConnectionState, payload: unknown, ack: Ack): void => {
    const parsed = parse(payload);
    if (!parsed.ok) return ack({ ok: false, code: 'invalid', message: parsed.error });
    const room = roomOf(parsed.value.resource, parsed.value.scope);
    state.pending.delete(room);
    socket.leave(room);
    ack({ ok: true });
  };

  io.on('connection', (socket) => {
    const state = stateOf(socket);
    socket.use((packet, next) => {
      if (state.bucket.take()) {
        state.overflow = 0;
        return next();
      }
      if (packet[0] === PROTOCOL_EVENTS.subscribe) ackOf(packet)({ ok: false, code: 'rate-limited', message: 'too many requests' });
      if (++state.overflow > floodLimit && socket.connected) {
        logger.warn(`disconnecting ${socket.id} (${socket.handshake.address}): kept flooding after ${floodLimit} refused events`);
        socket.disconnect(true);
      }
    });
    socket.on(PROTOCOL_EVENTS.subscribe, (payload: unknown, ...rest: unknown[]) => onSubscribe(socket, state, payload, ackOf(rest)));
    socket.on(PROTOCOL_EVENTS.unsubscribe, (payload: unknown, ...rest: unknown[]) => onUnsubscribe(socket, state, payload, ackOf(rest)));

    const { wantsSlot } = state;
    /** The log is read now that the connection is accepted: any change after the read reaches it live. */
    const greet = async ({ denied, joined }: { denied: Refusal[]; joined: Subscription[] }): Promise<void> => {
      const positions = await readPositions(joined);
      if (!socket.connected) return;
      // A client the log covered entirely has nothing to refetch: no slot.
      const refetchDelayMs = wantsSlot && (!options.log || positions.some((line) => line.status !== 'ok')) ? options.refetchSlot() : null;
      socket.emit(PROTOCOL_EVENTS.hello, { v: 1, denied, batch: true, ...(options.log ? { log: true, positions } : {}), ...(refetchDelayMs === null ? {} : { refetchDelayMs }) });
    };
    const list = socket.recovered ? readHandshakeList(socket.handshake.auth) : undefined;
    // Connection state recovery skips middlewares and restores the rooms: re-check them here.
    const settled = list ? applyList(socket, list.subs) : Promise.resolve({ denied: state.denied, joined: state.joined });
    settled.then(greet).catch((error: unknown) => logger.error(`greeting failed: ${describeError(error)}`));
    state.denied = [];
    state.joined = [];
  });

  return {
    deliver(change) {
      const { resource } = change;
      const scope = change.scope ?? undefined; // null: unscoped (nil/None from Ruby or Python publishers)
      // Published without the log (plain PUBLISH): a replay across it would miss it. Marked before
      // it reaches anyone, so a client that joins after this delivery reads the mark.
      if (options.log && typeof change.offset !== 'number') options.log.unlogged(resource, scope);
      const rooms = scope !== undefined ? [roomOf(resource, scope)] : isPrivate(resource, undefined) ? [roomOf(resource)] : [LEGACY_ROOM, roomOf(resource)];
      try {
        io.local.to(rooms).emit(options.changeEvent, change);
      } catch (error) {
        // socket.io's encoder walks the payload recursively: a change nested tens of thousands
        // deep overflows the stack. Drop that one change, keep serving.
        logger.warn(`dropped a change of "${resource}" that could not be encoded: ${describeError(error)}`);
      }
    },
  };
}

/** Runs `work` over `items`, at most `limit` at a time, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
