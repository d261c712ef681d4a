// Wraps one socket.io-client Socket and turns its events plus the browser's signals into one state
// with a reason, and into "the link is up / lost / came back after a gap" notifications.
// socket.io-client keeps transports, reconnection and backoff; what it lacks is hand-written in
// modules of their own and wired here:
// - probe.ts: noticing a link that died silently during a sleep within a second of wake;
// - reconnect-policy.ts: what a loss means (this page's own, a kick, a server restart) and when
//   to try again, including after the server's own disconnect, which socket.io leaves to the app;
// - transports.ts: WebSocket first after losing a WebSocket link, for a bounded time, and
//   attempts that hang (dead pooled connections) abandoned for the next;
// and, here, skipping the backoff wait when the browser says the network is back or the page woke.
import type { Socket } from 'socket.io-client';
import type { Clock, Signal, TimerHandle } from './environment';
import type { GapReason } from './catch-up';
import { createProbe } from './probe';
import { createReconnectPolicy, KICK_WINDOW_MS } from './reconnect-policy';
import { createTransportMemory } from './transports';

/** The connection state. Exactly `'connected'` while changes can flow. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

/**
 * Why the state last changed. After a gap: `'reconnected'`, then `'replayed'` when the bridge's
 * change log replayed what every subscription missed (no refetch runs).
 */
export type StateReason = 'start' | 'connected' | 'reconnected' | 'recovered' | 'replayed' | 'refused' | 'kicked' | 'closed' | 'client-disconnect' | GapReason;

/** The state with its context, as passed to `onStateChange`. */
export interface StateInfo {
  state: ConnectionState;
  /** Why the state last changed. */
  reason: StateReason;
  /** When the state last changed (clock milliseconds). */
  since: number;
  /**
   * When the next connection attempt is due (clock milliseconds), if one is scheduled. After a
   * failed attempt this is socket.io's backoff centre; socket.io adds ± `randomizationFactor` jitter.
   */
  nextRetryAt?: number;
  /** Number of reconnection attempts in the current gap. */
  attempt?: number;
}

/** Options of {@link createConnection}. */
export interface ConnectionOptions {
  clock: Clock;
  /** How long a probe may hear nothing before the link is declared dead, in ms. */
  probeTimeoutMs: number;
  /** Called on every state change. */
  onState(info: StateInfo): void;
  /** Called whenever the link is up (first connection, reconnection, recovery), before `onGap`. */
  onUp(): void;
  /** Called whenever the link is lost. */
  onDown(): void;
  /**
   * Called when the link is back after a gap that socket.io did not recover: reload. After a
   * kick, only once the new connection has outlived the kick window.
   */
  onGap(reason: GapReason): void;
  /** Called when socket.io recovered the session (no gap), after `onUp`. */
  onRecovered(): void;
  /** Called when an attempt to connect failed. */
  onConnectError(cause: unknown): void;
  /** Called when the server ended a connection right after accepting it; retried in `delayMs`. */
  onKicked(delayMs: number): void;
  /** Source of randomness in [0, 1). */
  random?: () => number;
}

/** The live connection of one instance. */
export interface Connection {
  info(): StateInfo;
  /** The gap the next connection closes, if this is a reconnection after one. */
  pendingGap(): GapReason | null;
  /** Reacts to a browser signal (online, wake, visible…). */
  signal(signal: Signal): void;
  /** The gap this connection closed was caught up by replaying the change log: reason `'replayed'`. */
  replayed(): void;
  /** Detaches from the socket; disconnects it too when `disconnect` is true. */
  close(disconnect: boolean): void;
}

export { PROBE_NAMESPACE } from './probe';

/** Minimum time between two backoff-skipping reconnects triggered by signals. */
const KICK_INTERVAL_MS = 1000;

const DISCONNECT_REASONS: Record<string, GapReason> = {
  'io server disconnect': 'server-disconnect',
  'ping timeout': 'ping-timeout',
  'transport close': 'transport-close',
  'transport error': 'transport-error',
  'parse error': 'transport-error',
};

/** Starts watching `socket`. The socket may already be connected, connecting or idle. */
export function createConnection(socket: Socket, options: ConnectionOptions): Connection {
  const { clock } = options;
  const manager = socket.io;
  const policy = createReconnectPolicy(
    clock,
    { base: () => manager.reconnectionDelay(), max: () => manager.reconnectionDelayMax(), factor: () => manager.randomizationFactor() },
    options.random,
  );
  let info: StateInfo = { state: socket.connected ? 'connected' : 'connecting', reason: socket.connected ? 'connected' : 'start', since: clock.now() };
  let everConnected = socket.connected;
  let gap: GapReason | null = null;
  let offline = false;
  let closed = false;
  /** True while this module itself disconnects the socket (its disconnect event is not a loss). */
  let replacing = false;
  let retryTimer: TimerHandle | null = null;
  let settleTimer: TimerHandle | null = null;
  let lastKickAt = -Infinity;
  const teardowns: Array<() => void> = [];

  const setState = (state: ConnectionState, reason: StateReason, extra: Partial<StateInfo> = {}): void => {
    info = { state, reason, since: clock.now(), ...extra };
    options.onState(info);
  };
  const lostState = (): ConnectionState => (offline ? 'offline' : everConnected ? 'reconnecting' : 'connecting');
  const cancel = (timer: TimerHandle | null): null => {
    if (timer !== null) clock.clearTimeout(timer);
    return null;
  };

  /** Drops the current link (if any) and connects again now, skipping socket.io's backoff wait. */
  const reconnectNow = (reason: GapReason | null): void => {
    if (closed) return;
    retryTimer = cancel(retryTimer);
    probe.end();
    if (reason && !gap) gap = reason;
    lastKickAt = clock.now();
    const wasUp = socket.connected;
    if (wasUp) transports.lost();
    replacing = true;
    socket.disconnect();
    replacing = false;
    if (wasUp) options.onDown();
    socket.connect();
    transports.attempt();
    if (!socket.connected) setState(lostState(), gap ?? info.reason, { nextRetryAt: clock.now() });
  };
  const transports = createTransportMemory(manager, clock, () => {
    // Deferred: this may run inside socket.io's own attempt bookkeeping.
    clock.setTimeout(() => !socket.connected && reconnectNow(null), 0);
  });
  const probe = createProbe(manager, clock, options.probeTimeoutMs, () => reconnectNow('dead-link'));

  const scheduleConnect = (delayMs: number, reason: StateReason): void => {
    retryTimer = cancel(retryTimer);
    retryTimer = clock.setTimeout(() => {
      retryTimer = null;
      if (closed || socket.connected) return;
      socket.connect();
      transports.attempt();
    }, delayMs);
    setState(lostState(), reason, { nextRetryAt: clock.now() + delayMs });
  };

  const listen = <A extends unknown[]>(event: 'connect' | 'disconnect' | 'connect_error', handler: (...args: A) => void): void => {
    socket.on(event, handler);
    teardowns.push(() => socket.off(event, handler));
  };

  listen('connect', () => {
    retryTimer = cancel(retryTimer);
    transports.restore();
    policy.connected();
    const missed = gap;
    const first = !everConnected;
    everConnected = true;
    setState('connected', first ? 'connected' : socket.recovered ? 'recovered' : 'reconnected');
    options.onUp();
    if (first || socket.recovered) {
      gap = null;
      if (socket.recovered) options.onRecovered();
      return;
    }
    if (policy.settled()) {
      gap = null;
      options.onGap(missed ?? 'transport-close');
      return;
    }
    // After a kick: reload only once this connection has outlived the kick window, so that a
    // server kicking every connection does not cost the app's API one reload per cycle.
    settleTimer = clock.setTimeout(() => {
      settleTimer = null;
      policy.survived();
      gap = null;
      options.onGap(missed ?? 'server-disconnect');
    }, KICK_WINDOW_MS);
  });

  listen('disconnect', (reason: string) => {
    probe.end();
    settleTimer = cancel(settleTimer);
    if (replacing || closed) return;
    const gapReason = DISCONNECT_REASONS[reason];
    if (!gapReason) {
      // The application called socket.disconnect() itself: respect it.
      setState('closed', 'client-disconnect');
      options.onDown();
      return;
    }
    transports.lost();
    const decision = policy.lost(gapReason);
    if (!gap || decision.retry === 'now') gap = decision.gap;
    options.onDown();
    if (decision.retry === 'now') {
      // The page just woke or came back online and the link died under us: reconnect at once
      // rather than after socket.io's first backoff delay. Deferred, because socket.io is still
      // inside its own close handling.
      setState(lostState(), gap, { nextRetryAt: clock.now() });
      retryTimer = clock.setTimeout(() => {
        retryTimer = null;
        if (!socket.connected) reconnectNow(null);
      }, 0);
      return;
    }
    if (decision.retry === 'later') {
      if (decision.kicked) {
        options.onKicked(decision.delayMs);
        // socket.io reconnects after a transport close by itself, with a backoff it reset on this
        // close: stop it, this attempt waits for the policy's delay.
        replacing = true;
        socket.disconnect();
        replacing = false;
      }
      scheduleConnect(decision.delayMs, decision.kicked ? 'kicked' : gap);
      return;
    }
    setState(lostState(), gap, { nextRetryAt: clock.now() + manager.reconnectionDelay() });
  });

  listen('connect_error', (error: unknown) => {
    options.onConnectError(error);
    if (closed) return;
    if (socket.active) transports.failed();
    else {
      transports.restore();
      // Refused by a server middleware: socket.io-client gives up. Try again slowly, since an
      // `auth` callback may produce fresh credentials next time.
      scheduleConnect(manager.reconnectionDelayMax(), 'refused');
    }
  });

  const onAttempt = (attempt: number): void => {
    transports.attempt();
    setState(lostState(), gap ?? info.reason, { attempt });
  };
  const onAttemptFailed = (): void => {
    // socket.io's backoff does not publish its next delay; this is the centre of its window.
    const attempts = info.attempt ?? 1;
    const delay = Math.min(manager.reconnectionDelay() * 2 ** attempts, manager.reconnectionDelayMax());
    setState(lostState(), gap ?? info.reason, { attempt: attempts, nextRetryAt: clock.now() + delay });
  };
  manager.on('reconnect_attempt', onAttempt);
  manager.on('reconnect_error', onAttemptFailed);
  teardowns.push(() => {
    manager.off('reconnect_attempt', onAttempt);
    manager.off('reconnect_error', onAttemptFailed);
  });

  const signal = (which: Signal): void => {
    if (closed || info.state === 'closed') return;
    const local = policy.signalled(which);
    if (which === 'offline') {
      offline = true;
      // The old socket may still look open while the network is gone: drop it now, so the gap is
      // known and the reconnection (and the refetch) happens as soon as the network is back.
      if (socket.connected) reconnectNow('offline');
      else {
        // engine.io-client closes its transport on `offline` itself, just before this runs, so
        // socket.io reports a plain "transport close": the network going away is the real cause.
        gap = 'offline';
        setState('offline', 'offline', {});
      }
      return;
    }
    if (which === 'online') offline = false;
    if (socket.connected) {
      probe.start();
      return;
    }
    // The link was lost just before this signal (the browser saw the reset before the wake):
    // this page's own gap, reloaded at once rather than spread like a server restart.
    if (local && gap !== 'server-disconnect' && gap !== 'offline') gap = local;
    transports.renew();
    // While reconnecting, skip the rest of socket.io's backoff wait, but not more than once a second.
    if (clock.now() - lastKickAt >= KICK_INTERVAL_MS) reconnectNow(which === 'online' ? 'offline' : 'dead-link');
  };

  if (!socket.connected && !socket.active) socket.connect();
  if (!socket.connected) setState('connecting', 'start');
  else policy.connected();

  return {
    info: () => info,
    pendingGap: () => (everConnected ? gap : null),
    signal,
    replayed() {
      if (!closed && socket.connected) setState('connected', 'replayed');
    },
    close(disconnect) {
      if (closed) return;
      probe.end();
      closed = true;
      retryTimer = cancel(retryTimer);
      settleTimer = cancel(settleTimer);
      transports.restore();
      teardowns.splice(0).forEach((teardown) => teardown());
      if (disconnect) socket.disconnect();
      setState('closed', 'closed');
    },
  };
}
