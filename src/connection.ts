// Wraps one socket.io-client Socket and turns its events plus the browser's signals into one state
// with a reason, and into "the link came back after a gap" notifications. socket.io-client keeps
// transports, reconnection and backoff; what it lacks, and what is hand-written here, is:
// - noticing a link that died silently during a sleep (no FIN, no RST) within a second of wake,
//   instead of after pingInterval + pingTimeout, by probing the link with a round trip any plain
//   socket.io v4 server answers: a CONNECT to an unknown namespace, answered by CONNECT_ERROR;
// - skipping the backoff wait when the browser says the network is back or the page woke up;
// - reconnecting after the server's own disconnect ("io server disconnect"), which
//   socket.io-client deliberately leaves to the application.
import type { Socket } from 'socket.io-client';
import type { Clock, Signal, TimerHandle } from './environment';
import type { GapReason } from './refetch';
import { createTransportMemory } from './transports';

/** The connection state. Exactly `'connected'` while changes can flow. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

/** Why the state last changed. */
export type StateReason = 'start' | 'connected' | 'reconnected' | 'recovered' | 'refused' | 'closed' | 'client-disconnect' | GapReason;

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
  /** How long a probe may wait for its answer before the link is declared dead, in ms. */
  probeTimeoutMs: number;
  /** Called on every state change. */
  onState(info: StateInfo): void;
  /** Called when the link is back after a gap that socket.io did not recover. */
  onGap(reason: GapReason): void;
  /** Called when an attempt to connect failed. */
  onConnectError(cause: unknown): void;
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
  /** Detaches from the socket; disconnects it too when `disconnect` is true. */
  close(disconnect: boolean): void;
}

/** A namespace no server defines: asking for it costs one small round trip and no server state. */
export const PROBE_NAMESPACE = '/live-updates-probe';

/** How long after a wake/online signal a lost link is reconnected at once instead of after backoff. */
const SUSPECT_WINDOW_MS = 3000;
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
  const random = options.random ?? Math.random;
  const manager = socket.io;
  let info: StateInfo = { state: socket.connected ? 'connected' : 'connecting', reason: socket.connected ? 'connected' : 'start', since: clock.now() };
  let everConnected = socket.connected;
  let gap: GapReason | null = null;
  let offline = false;
  let closed = false;
  let kicking = false;
  let retryTimer: TimerHandle | null = null;
  let probe: { timer: TimerHandle; done: () => void } | null = null;
  /** When a browser signal last said the link may be stale: a loss soon after is not worth a backoff wait. */
  let suspectSince = -Infinity;
  let lastKickAt = -Infinity;
  const teardowns: Array<() => void> = [];
  const transports = createTransportMemory(manager);

  const setState = (state: ConnectionState, reason: StateReason, extra: Partial<StateInfo> = {}): void => {
    info = { state, reason, since: clock.now(), ...extra };
    options.onState(info);
  };
  const lostState = (): ConnectionState => (offline ? 'offline' : everConnected ? 'reconnecting' : 'connecting');
  const cancelRetry = (): void => {
    if (retryTimer !== null) clock.clearTimeout(retryTimer);
    retryTimer = null;
  };

  /** Drops the current link (if any) and connects again now, skipping socket.io's backoff wait. */
  const reconnectNow = (reason: GapReason | null): void => {
    if (closed) return;
    cancelRetry();
    endProbe();
    if (reason && !gap) gap = reason;
    lastKickAt = clock.now();
    transports.lost();
    kicking = true;
    socket.disconnect();
    kicking = false;
    socket.connect();
    if (!socket.connected) setState(lostState(), gap ?? info.reason, { nextRetryAt: clock.now() });
  };

  const scheduleConnect = (delayMs: number): void => {
    cancelRetry();
    retryTimer = clock.setTimeout(() => {
      retryTimer = null;
      if (!closed && !socket.connected) socket.connect();
    }, delayMs);
    setState(lostState(), info.reason === 'refused' ? 'refused' : (gap ?? info.reason), { nextRetryAt: clock.now() + delayMs });
  };

  const endProbe = (): void => {
    if (!probe) return;
    const { timer, done } = probe;
    probe = null;
    clock.clearTimeout(timer);
    done();
  };

  /** One round trip over the current link; no answer in time means the link is dead. */
  const startProbe = (): void => {
    if (probe || !socket.connected) return;
    // Manager.socket() caches one socket per namespace and, with autoConnect, sends CONNECT itself.
    const prober = manager.socket(PROBE_NAMESPACE);
    const answered = (): void => endProbe();
    prober.on('connect', answered);
    prober.on('connect_error', answered);
    const timer = clock.setTimeout(() => {
      probe = null;
      release();
      reconnectNow('dead-link');
    }, options.probeTimeoutMs);
    const release = (): void => {
      prober.off('connect', answered);
      prober.off('connect_error', answered);
      // A dedicated namespace socket: closing it leaves the main socket and the link untouched.
      prober.disconnect();
    };
    probe = { timer, done: release };
    if (!prober.active) prober.connect();
  };

  const listen = <A extends unknown[]>(event: 'connect' | 'disconnect' | 'connect_error', handler: (...args: A) => void): void => {
    socket.on(event, handler);
    teardowns.push(() => socket.off(event, handler));
  };

  listen('connect', () => {
    cancelRetry();
    transports.restore();
    const missed = gap;
    gap = null;
    if (!everConnected) {
      everConnected = true;
      setState('connected', 'connected');
      return;
    }
    if (socket.recovered) {
      setState('connected', 'recovered');
      return;
    }
    setState('connected', 'reconnected');
    options.onGap(missed ?? 'transport-close');
  });

  listen('disconnect', (reason: string) => {
    endProbe();
    if (kicking || closed) return;
    const gapReason = DISCONNECT_REASONS[reason];
    if (!gapReason) {
      // The application called socket.disconnect() itself: respect it.
      setState('closed', 'client-disconnect');
      return;
    }
    if (!gap) gap = gapReason;
    transports.lost();
    if (gapReason === 'server-disconnect') {
      // socket.io-client does not retry after the server's own disconnect; a restarting server
      // sends exactly that. Retry after a random share of the reconnection delay so a whole
      // fleet of clients does not come back in the same instant.
      scheduleConnect(Math.floor(random() * manager.reconnectionDelay()));
      return;
    }
    if (clock.now() - suspectSince < SUSPECT_WINDOW_MS) {
      // The page just woke or came back online and the link died under us: reconnect at once
      // rather than after socket.io's first backoff delay. Deferred, because socket.io is still
      // inside its own close handling.
      setState(lostState(), gapReason, { nextRetryAt: clock.now() });
      retryTimer = clock.setTimeout(() => {
        retryTimer = null;
        if (!socket.connected) reconnectNow(null);
      }, 0);
      return;
    }
    setState(lostState(), gapReason, { nextRetryAt: clock.now() + manager.reconnectionDelay() });
  });

  listen('connect_error', (error: unknown) => {
    options.onConnectError(error);
    if (closed) return;
    if (!socket.active) {
      // Refused by a server middleware: socket.io-client gives up. Try again slowly, since an
      // `auth` callback may produce fresh credentials next time.
      info = { ...info, reason: 'refused' };
      scheduleConnect(manager.reconnectionDelayMax());
      return;
    }
  });

  const onAttempt = (attempt: number): void => setState(lostState(), gap ?? info.reason, { attempt });
  const onAttemptFailed = (): void => {
    transports.failed();
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
    suspectSince = clock.now();
    if (socket.connected) startProbe();
    // While reconnecting, skip the rest of socket.io's backoff wait, but not more than once a second.
    else if (clock.now() - lastKickAt >= KICK_INTERVAL_MS) reconnectNow(which === 'online' ? 'offline' : 'dead-link');
  };

  if (!socket.connected && !socket.active) socket.connect();
  if (!socket.connected) setState('connecting', 'start');

  return {
    info: () => info,
    pendingGap: () => (everConnected ? gap : null),
    signal,
    close(disconnect) {
      if (closed) return;
      endProbe();
      closed = true;
      cancelRetry();
      transports.restore();
      teardowns.splice(0).forEach((teardown) => teardown());
      if (disconnect) socket.disconnect();
      setState('closed', 'closed');
    },
  };
}
