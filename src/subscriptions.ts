// Tells the bridge which resources (and scopes) this page wants, so that it receives only those
// and only what it may see. The set travels in the socket.io handshake (`auth.lu`), which
// socket.io sends again on every reconnect, to whichever bridge process answers: the bridge joins
// the rooms before it accepts the connection, so a refetch that starts on `connect` cannot miss a
// change. Subscriptions added while connected go as `lu:subscribe` events. A client returning from
// a gap shared with others also asks for a refetch slot, so a restart's returning crowd reaches
// the app's API at a rate the bridge sets. A plain socket.io
// server ignores both, never says `lu:hello`, and keeps broadcasting: nothing changes there.
import type { Socket } from 'socket.io-client';
import { parseHello, parseReply, type Refusal, type Subscription } from './messages';

/** The handshake key and events of the subscription protocol. */
export const PROTOCOL = { authKey: 'lu', hello: 'lu:hello', subscribe: 'lu:subscribe', unsubscribe: 'lu:unsubscribe' } as const;

/** Keeps the bridge's view of this page's subscriptions in step with the page's. */
export interface Subscriptions {
  /** Counts one more subscriber of (resource, scope); returns its idempotent release. */
  add(resource: string, scope: string | undefined): () => void;
  /** Tells the bridge this page wants nothing more, restores the socket's own `auth`, stops listening. */
  close(): void;
}

type Auth = Record<string, unknown>;
type AuthSource = Socket['auth'];

const SUBSCRIBE_TIMEOUT_MS = 10_000;

const keyOf = (resource: string, scope: string | undefined): string => JSON.stringify([resource, scope ?? null]);

/** How the subscriptions talk to the rest of the instance. */
export interface SubscriptionHooks {
  /** Hears every subscription the bridge refused. */
  onRefused(refusal: Refusal): void;
  /** Whether this (re)connection will refetch after a gap shared with other clients: then it asks for a slot. */
  wantsRefetchSlot(): boolean;
  /** Hears the slot the bridge gave: refetch in this many ms. */
  onRefetchSlot(delayMs: number): void;
}

/** Wires the protocol onto `socket`. */
export function createSubscriptions(socket: Socket, hooks: SubscriptionHooks): Subscriptions {
  const { onRefused } = hooks;
  const counts = new Map<string, { subscription: Subscription; count: number }>();
  /** What the bridge has been told on the current connection (handshake or events), by key. */
  let told = new Map<string, Subscription>();
  /** Keys whose wanted state changed since the last sync. */
  const dirty = new Set<string>();
  let syncQueued = false;
  /**
   * The bridge greeted this connection: it speaks the protocol. A socket handed over already
   * connected missed the greeting, so it is asked directly.
   */
  let bridge = socket.connected;
  const original: AuthSource = socket.auth;

  // socket.io calls `auth` (when a function) before every connection attempt: merge our list
  // into whatever the application supplies, asking the application's callback again each time.
  socket.auth = (callback: (data: object) => void) => {
    const merge = (data: unknown): void => {
      told = new Map([...counts].map(([key, entry]) => [key, entry.subscription]));
      const lu = { v: 1, subs: [...told.values()], ...(hooks.wantsRefetchSlot() ? { refetch: true } : {}) };
      callback({ ...(data && typeof data === 'object' ? (data as Auth) : {}), [PROTOCOL.authKey]: lu });
    };
    if (typeof original === 'function') original(merge);
    else merge(original);
  };

  const subscribe = (key: string, subscription: Subscription): void => {
    told.set(key, subscription);
    // With a timeout, so a server that never answers (a plain one) leaves no ack callback behind.
    socket.timeout(SUBSCRIBE_TIMEOUT_MS).emit(PROTOCOL.subscribe, subscription, (error: unknown, reply: unknown) => {
      if (error) return; // no answer: not a bridge, or the link dropped (the next handshake carries it)
      const { ok, code, message } = parseReply(reply);
      if (!ok) onRefused({ ...subscription, code, message });
    });
  };

  /** Tells the bridge the net difference between what the page wants and what it was told. */
  const sync = (keys: Iterable<string>): void => {
    if (!bridge || !socket.connected) return; // the next handshake carries the whole list
    for (const key of keys) {
      const wanted = counts.get(key);
      const known = told.get(key);
      if (wanted && !known) subscribe(key, wanted.subscription);
      else if (!wanted && known) {
        told.delete(key);
        socket.emit(PROTOCOL.unsubscribe, known);
      }
    }
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
    bridge = true;
    hello.denied.forEach(onRefused);
    if (hello.refetchDelayMs !== undefined) hooks.onRefetchSlot(hello.refetchDelayMs);
    // Subscriptions added or dropped between the handshake and this greeting.
    sync(new Set([...counts.keys(), ...told.keys()]));
  };
  const onDisconnect = (): void => {
    bridge = false;
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
      }
      entry.count++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const current = counts.get(key);
        if (!current || --current.count > 0) return;
        counts.delete(key);
        markDirty(key);
      };
    },
    close() {
      // Matters for a socket the application keeps using after close().
      counts.clear();
      sync([...told.keys()]);
      socket.off(PROTOCOL.hello, onHello);
      socket.off('disconnect', onDisconnect);
      socket.auth = original;
    },
  };
}
