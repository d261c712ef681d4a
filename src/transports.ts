// Reconnect with the transport that last worked, but not for long. After a sleep, the browser's
// pooled keep-alive connections to the server can be as dead as the old link, and a long-polling
// request sent on one hangs until socket.io's 20 s connect timeout; a WebSocket always opens a
// fresh connection. engine.io-client's `rememberUpgrade` would go straight to a WebSocket, but it
// forgets after the first failed attempt. So after losing a WebSocket link the attempts use
// WebSocket only — until one fails, or WEBSOCKET_ONLY_MS after the first one started (a proxy
// that swallows upgrades makes attempts hang, not fail), whichever comes first. Then socket.io's
// own transport list (with its polling fallback) is restored — with `rememberUpgrade` off until
// connected, or engine.io would go straight back to WebSocket — and the connection is told to try
// again at once, abandoning an attempt that hangs. Configures socket.io through its public `opts`.
import type { Manager } from 'socket.io-client';
import type { Clock, TimerHandle } from './environment';

/**
 * How long WebSocket-only attempts are tried after losing a WebSocket link, from the first
 * attempt's start, in ms. Long enough for a fresh WebSocket on a slow mobile link (3 round trips
 * at 300 ms), short enough to be back over long-polling within 3 s where upgrades are refused.
 */
export const WEBSOCKET_ONLY_MS = 2500;

/** The transport memory of one socket.io Manager. */
export interface TransportMemory {
  /** The link is gone: reconnect the way it was connected. */
  lost(): void;
  /** A reconnection attempt starts. */
  attempt(): void;
  /** A reconnection attempt failed. */
  failed(): void;
  /** The network came back or the page woke: WebSocket first again, with a fresh budget. */
  renew(): void;
  /** Connected again (or closing): socket.io's own transports from now on. */
  restore(): void;
}

/** Creates the memory for `manager`; `onGiveUp` runs when WebSocket-only attempts are abandoned. */
export function createTransportMemory(manager: Manager, clock: Clock, onGiveUp: () => void): TransportMemory {
  const own = manager.opts.transports;
  const ownRememberUpgrade = manager.opts.rememberUpgrade;
  let pinned = false;
  /** Gave up on WebSocket: engine.io's `rememberUpgrade` would go straight back to it, so it is off. */
  let fellBack = false;
  let lastWasWebSocket = false;
  let timer: TimerHandle | null = null;

  const unpin = (): void => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    if (!pinned) return;
    pinned = false;
    if (own === undefined) delete manager.opts.transports;
    else manager.opts.transports = own;
  };
  const restore = (): void => {
    unpin();
    if (!fellBack) return;
    fellBack = false;
    if (ownRememberUpgrade === undefined) delete manager.opts.rememberUpgrade;
    else manager.opts.rememberUpgrade = ownRememberUpgrade;
  };
  const pin = (): void => {
    // Only when it changes something: the app's list has WebSocket and something else.
    if (pinned || (own !== undefined && !(own.some((t) => t === 'websocket') && own.some((t) => t !== 'websocket')))) return;
    pinned = true;
    manager.opts.transports = ['websocket'];
  };
  const giveUp = (): void => {
    if (!pinned) return;
    unpin();
    fellBack = true;
    manager.opts.rememberUpgrade = false;
    onGiveUp();
  };

  return {
    lost() {
      lastWasWebSocket = manager.engine?.transport?.name === 'websocket';
      if (lastWasWebSocket) pin();
    },
    attempt() {
      if (pinned && timer === null) timer = clock.setTimeout(giveUp, WEBSOCKET_ONLY_MS);
    },
    failed: giveUp,
    renew() {
      if (!lastWasWebSocket) return;
      restore();
      pin();
    },
    restore,
  };
}
