// Tells the bridge which resources (and scopes) this page wants, so that it receives only those
// and only what it may see. The set travels in the socket.io handshake (`auth.lu`), which
// socket.io sends again on every reconnect, to whichever bridge process answers: the bridge joins
// the rooms before it accepts the connection, so a refetch that starts on `connect` cannot miss a
// change. Subscriptions added while connected go as `lu:subscribe` events, and are live (their
// changes reach this page) once the bridge acknowledged them. Refusals that may pass later
// (`unavailable`, `rate-limited`, no answer) are asked again with backoff. A client returning from
// a gap shared with others also asks for a refetch slot, so a restart's returning crowd reaches
// the app's API at a rate the bridge sets. A plain socket.io
// server ignores both, never says `lu:hello`, and keeps broadcasting: nothing changes there.
import type { Socket } from 'socket.io-client';
import { retryDelay } from './catch-up';
import type { Clock, TimerHandle } from './environment';
import { parseBatchReply, parseHello, parseReply, type LogLine, type Refusal, type Reply, type Subscription } from './messages';

/** The handshake key and events of the subscription protocol. */
export const PROTOCOL = { authKey: 'lu', hello: 'lu:hello', subscribe: 'lu:subscribe', unsubscribe: 'lu:unsubscribe' } as const;

/** Keeps the bridge's view of this page's subscriptions in step with the page's. */
export interface Subscriptions {
  /** Counts one more subscriber of (resource, scope); returns its key and idempotent release. */
  add(resource: string, scope: string | undefined): { key: string; release: () => void };
  /** Whether changes of `key` reach this page now. */
  isLive(key: string): boolean;
  /** The link is up: everything in the handshake is live (a plain server broadcasts everything). */
  connected(): void;
  /** Tells the bridge this page wants nothing more, restores the socket's own `auth`, stops listening. */
  close(): void;
}

type Auth = Record<string, unknown>;
type AuthSource = Socket['auth'];

/** How long the bridge may take to answer a `lu:subscribe` before it is asked again, in ms. */
const SUBSCRIBE_TIMEOUT_MS = 10_000;
/** Refusals that may pass: the app's auth service was down or slow, or this page asked too fast. */
const PASSING: ReadonlySet<string> = new Set(['unavailable', 'rate-limited', 'timeout']);

/** The key of (resource, scope): one room on the bridge. */
export const keyOf = (resource: string, scope: string | undefined): string => JSON.stringify([resource, scope ?? null]);

/** How the subscriptions talk to the rest of the instance. */
export interface SubscriptionHooks {
  clock: Clock;
  /** Hears every refusal; `retryInMs` when it will be asked again. */
  onRefused(refusal: Refusal, retryInMs: number | null): void;
  /** Changes of `key` reach this page from now on. */
  onLive(key: string): void;
  /** Changes of `key` no longer reach this page (refused, or about to be asked again). */
  onUnlive(key: string): void;
  /** Whether this (re)connection will refetch after a gap shared with other clients: then it asks for a slot. */
  wantsRefetchSlot(): boolean;
  /** Hears the slot the bridge gave: refetch in this many ms. */
  onRefetchSlot(delayMs: number): void;
  /** Where `key` stands in its change log, sent in the handshake so the bridge replays what it missed. */
  positionOf(key: string): { epoch: string; offset: number } | undefined;
  /** The greeting's change-log lines (undefined: the bridge keeps no log), before its refetch slot. */
  onGreeting(lines: LogLine[] | undefined): void;
  /** A live subscribe was acknowledged at this log position. */
  onPosition(key: string, position: { epoch: string; offset: number }): void;
  /** `key` is no longer subscribed. */
  onReleased(key: string): void;
  /** Source of randomness in [0, 1). */
  random?: () => number;
}

/** Wires the protocol onto `socket`. */
export function createSubscriptions(socket: Socket, hooks: SubscriptionHooks): Subscriptions {
  const { clock } = hooks;
  const random = hooks.random ?? Math.random;
  const counts = new Map<string, { subscription: Subscription; count: number }>();
  /** What the bridge has been told on the current connection (handshake or events), by key. */
  let told = new Map<string, Subscription>();
  /** What the handshake of the current connection carried. */
  let handshake = new Set<string>();
  const live = new Set<string>();
  /** Refused `forbidden` or `invalid`: asked again only by the next connection's handshake. */
  const refusedForGood = new Set<string>();
  const retries = new Map<string, { attempts: number; timer: TimerHandle | null }>();
  /** Keys whose wanted state changed since the last sync. */
  const dirty = new Set<string>();
  let syncQueued = false;
  /** Send protocol events. A socket handed over already connected missed the greeting, so it is asked directly. */
  let speaks = socket.connected;
  /** The bridge greeted this connection: a subscription is live only once it acknowledged it. */
  let greeted = false;
  /** The bridge takes several subscriptions in one `lu:subscribe` (it said so in its greeting). */
  let batch = false;
  const original: AuthSource = socket.auth;

  // socket.io calls `auth` (when a function) before every connection attempt: merge our list
  // into whatever the application supplies, asking the application's callback again each time.
  socket.auth = (callback: (data: object) => void) => {
    const merge = (data: unknown): void => {
      told = new Map([...counts].map(([key, entry]) => [key, entry.subscription]));
      handshake = new Set(told.keys());
      const subs = [...told].map(([key, subscription]) => ({ ...subscription, ...hooks.positionOf(key) }));
      const lu = { v: 1, subs, ...(hooks.wantsRefetchSlot() ? { refetch: true } : {}) };
      callback({ ...(data && typeof data === 'object' ? (data as Auth) : {}), [PROTOCOL.authKey]: lu });
    };
    if (typeof original === 'function') original(merge);
    else merge(original);
  };

  const setLive = (key: string, on: boolean): void => {
    if (on === live.has(key)) return;
    if (on) live.add(key);
    else live.delete(key);
    (on ? hooks.onLive : hooks.onUnlive)(key);
  };

  const stopRetry = (key: string): void => {
    const retry = retries.get(key);
    if (retry?.timer != null) clock.clearTimeout(retry.timer);
    retries.delete(key);
  };

  /** A refusal: passing ones are asked again with backoff while the page still wants them. */
  const refused = (refusal: Refusal): void => {
    const key = keyOf(refusal.resource, refusal.scope);
    // Still in `told`: what the bridge was asked; a retry asks again, a sync does not.
    setLive(key, false);
    if (!counts.has(key) || !PASSING.has(refusal.code)) {
      stopRetry(key);
      if (counts.has(key)) refusedForGood.add(key);
      hooks.onRefused(refusal, null);
      return;
    }
    const retry = retries.get(key) ?? { attempts: 0, timer: null };
    retries.set(key, retry);
    retry.attempts++;
    // Asked again as a failed refetch is: 1 s, 2 s, 4 s … 30 s, jittered.
    const delay = retryDelay(retry.attempts, random);
    if (retry.timer !== null) clock.clearTimeout(retry.timer);
    retry.timer = clock.setTimeout(() => {
      retry.timer = null;
      const wanted = counts.get(key);
      if (wanted && speaks && socket.connected) subscribe([[key, wanted.subscription]]);
    }, delay);
    hooks.onRefused(refusal, delay);
  };

  /** What the bridge answered (or failed to answer) for one subscription. */
  const answered = (key: string, subscription: Subscription, reply: Reply | 'no answer'): void => {
    if (told.get(key) !== subscription || !counts.has(key)) return; // unsubscribed, or asked again since
    if (reply === 'no answer') {
      // A plain server (then it broadcasts anyway), or the link dropped (the next handshake
      // carries the list). A bridge that greeted us and went quiet is asked again.
      if (greeted && socket.connected) refused({ ...subscription, code: 'timeout', message: `no answer within ${SUBSCRIBE_TIMEOUT_MS} ms` });
      return;
    }
    if (!reply.ok) return refused({ ...subscription, code: reply.code, message: reply.message });
    if (reply.position) hooks.onPosition(key, reply.position);
    stopRetry(key);
    setLive(key, true);
  };

  /** Asks the bridge for these subscriptions: one event each, or one batch where the bridge takes them. */
  const subscribe = (asked: Array<[key: string, subscription: Subscription]>): void => {
    for (const [key, subscription] of asked) told.set(key, subscription);
    // With a timeout, so a server that never answers (a plain one) leaves no ack callback behind.
    const emit = socket.timeout(SUBSCRIBE_TIMEOUT_MS);
    if (batch && asked.length > 1) {
      emit.emit(PROTOCOL.subscribe, { subs: asked.map(([, subscription]) => subscription) }, (error: unknown, reply: unknown) => {
        const replies = error ? null : parseBatchReply(reply, asked.length);
        asked.forEach(([key, subscription], index) => answered(key, subscription, replies?.[index] ?? 'no answer'));
      });
      return;
    }
    for (const [key, subscription] of asked) {
      socket.timeout(SUBSCRIBE_TIMEOUT_MS).emit(PROTOCOL.subscribe, subscription, (error: unknown, reply: unknown) => answered(key, subscription, error ? 'no answer' : parseReply(reply)));
    }
  };

  /** Tells the bridge the net difference between what the page wants and what it was told. */
  const sync = (keys: Iterable<string>): void => {
    const list = [...keys];
    // Released for good (not re-added in the same task): forget its room state and retries.
    for (const key of list) {
      if (counts.has(key)) continue;
      live.delete(key);
      refusedForGood.delete(key);
      stopRetry(key);
      hooks.onReleased(key);
    }
    if (!speaks || !socket.connected) return; // the next handshake carries the whole list
    const asked: Array<[string, Subscription]> = [];
    for (const key of list) {
      const wanted = counts.get(key);
      const known = told.get(key);
      if (wanted && !known) asked.push([key, wanted.subscription]);
      else if (!wanted && known) {
        told.delete(key);
        socket.emit(PROTOCOL.unsubscribe, known);
      }
    }
    if (asked.length > 0) subscribe(asked);
  };
  // Changes made in one task (a page mounting or unmounting many components) go out once, as
  // their net effect: a subscribe undone in the same task sends nothing.
  const markDirty = (key: string): void => {
    dirty.add(key);
    if (syncQueued) return;
    syncQueued = true;
    queueMicrotask(() => {
      syncQueued = false;
      const keys = [...dirty];
      dirty.clear();
      sync(keys);
    });
  };

  const onHello = (payload: unknown): void => {
    const hello = parseHello(payload);
    if (!hello) return;
    speaks = true;
    greeted = true;
    batch = hello.batch;
    // Subscriptions made after the handshake looked live while the server's kind was unknown:
    // on a bridge they are live only once it acknowledged them.
    for (const key of counts.keys()) if (!handshake.has(key)) setLive(key, false);
    // Refused for good last time: not taken as live at connect; live now unless refused again.
    const deniedNow = new Set(hello.denied.map((refusal) => keyOf(refusal.resource, refusal.scope)));
    for (const key of [...refusedForGood]) {
      if (deniedNow.has(key)) continue;
      refusedForGood.delete(key);
      if (counts.has(key) && handshake.has(key)) setLive(key, true);
    }
    hello.denied.forEach(refused);
    hooks.onGreeting(hello.positions);
    if (hello.refetchDelayMs !== undefined) hooks.onRefetchSlot(hello.refetchDelayMs);
    // Subscriptions added or dropped between the handshake and this greeting.
    sync(new Set([...counts.keys(), ...told.keys()]));
  };
  const onDisconnect = (): void => {
    speaks = false;
    greeted = false;
    batch = false;
    for (const key of [...retries.keys()]) stopRetry(key);
    live.clear();
  };
  socket.on(PROTOCOL.hello, onHello);
  socket.on('disconnect', onDisconnect);

  return {
    add(resource, scope) {
      const key = keyOf(resource, scope);
      let entry = counts.get(key);
      if (!entry) {
        entry = { subscription: scope === undefined ? { resource } : { resource, scope }, count: 0 };
        counts.set(key, entry);
        markDirty(key);
        // Until a bridge greets this connection, the server is taken to be a plain one, which
        // broadcasts everything: the subscription is live as soon as the link is.
        if (socket.connected && !greeted) live.add(key);
      }
      entry.count++;
      let released = false;
      return {
        key,
        release() {
          if (released) return;
          released = true;
          const current = counts.get(key);
          if (!current || --current.count > 0) return;
          // Its room and any retry stay until the sync: a re-subscribe in the same task (a
          // component remounting, React StrictMode) keeps them, and sends nothing.
          counts.delete(key);
          markDirty(key);
        },
      };
    },
    isLive: (key) => live.has(key),
    connected() {
      // A subscription the bridge refused for good on the last connection waits for this one's
      // verdict (the greeting) instead of loading once for nothing.
      for (const key of counts.keys()) if (!refusedForGood.has(key)) setLive(key, true);
    },
    close() {
      // Matters for a socket the application keeps using after close().
      counts.clear();
      for (const key of [...retries.keys()]) stopRetry(key);
      sync([...told.keys()]);
      socket.off(PROTOCOL.hello, onHello);
      socket.off('disconnect', onDisconnect);
      socket.auth = original;
    },
  };
}
