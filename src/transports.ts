// How reconnection attempts use the transports, after a link was lost. Two hazards, one remedy
// each; socket.io-client does neither by itself:
// - After a sleep, the browser's pooled keep-alive connections to the server can be as dead as the
//   old link, and a long-polling request sent on one hangs until socket.io's 20 s connect timeout,
//   while a WebSocket always opens a fresh connection. engine.io-client's `rememberUpgrade` goes
//   straight to a WebSocket but forgets after the first failed attempt. So after losing a
//   WebSocket link the attempts use WebSocket only — until one fails, or hangs ATTEMPT_DEADLINE_MS
//   (a proxy that swallows upgrades makes attempts hang, not fail). Then socket.io's own transport
//   list (polling first) is restored, with `rememberUpgrade` off until connected (or engine.io
//   would go straight back to the WebSocket), and the next attempt starts at once.
// - An attempt that hangs anyway (a polling request on a dead pooled connection) is abandoned
//   after ATTEMPT_DEADLINE_MS and the next starts at once: abandoning it closes that connection,
//   so each abandoned attempt clears one dead connection from the pool. A few in a row at most;
//   after that socket.io's own connect timeout applies (a slow network, not a dead pool). Only
//   attempts over long-polling: a WebSocket opens a fresh connection, so one that hangs meets a
//   slow server (after a restart, swamped by everyone coming back), and abandoning it would add
//   one more handshake per client to the crowd (the 10k restart-storm benchmark saw reconnection
//   take twice as long as plain socket.io-clients'). Dead pooled connections outlive the gap that
//   killed them, so this does not depend on the kind of gap (the soak saw a page stuck after a
//   server restart that followed a sleep, when it did).
// Configures socket.io through its public `opts`.
import type { Manager } from 'socket.io-client';
import type { Clock, TimerHandle } from './environment';

/**
 * How long a reconnection attempt may take before it is abandoned, in ms. Long enough for a fresh
 * WebSocket on a slow mobile link (3 round trips at 300 ms plus the reconnection delay's share),
 * short enough to be back over long-polling within 3 s where upgrades are refused or hang.
 */
export const ATTEMPT_DEADLINE_MS = 2500;
/** Attempts in a row abandoned for hanging (dead pooled connections: 3–4 after a page load) before socket.io's own timeout applies. */
export const MAX_ABANDONED_ATTEMPTS = 4;

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
  /** Connected again (or closing): socket.io's own settings from now on. */
  restore(): void;
}

/** Creates the memory for `manager`; `onAbandon` must start a new attempt at once. */
export function createTransportMemory(manager: Manager, clock: Clock, onAbandon: () => void): TransportMemory {
  const own = manager.opts.transports;
  const ownRememberUpgrade = manager.opts.rememberUpgrade;
  let reconnecting = false;
  let pinned = false;
  /** Gave up on WebSocket: engine.io's `rememberUpgrade` would go straight back to it, so it is off. */
  let fellBack = false;
  let lastWasWebSocket = false;
  let abandoned = 0;
  let timer: TimerHandle | null = null;

  const stopWatch = (): void => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
  };
  const unpin = (): void => {
    if (!pinned) return;
    pinned = false;
    if (own === undefined) delete manager.opts.transports;
    else manager.opts.transports = own;
  };
  const pin = (): void => {
    // Only when it changes something: the app's list has WebSocket and something else.
    if (pinned || (own !== undefined && !(own.some((t) => t === 'websocket') && own.some((t) => t !== 'websocket')))) return;
    pinned = true;
    manager.opts.transports = ['websocket'];
  };
  const fallBack = (): void => {
    unpin();
    fellBack = true;
    manager.opts.rememberUpgrade = false;
    onAbandon();
  };
  const hung = (): void => {
    timer = null;
    if (pinned) return fallBack();
    // A WebSocket attempt has no pooled connection to clear: leave it to socket.io's timeout.
    if (abandoned >= MAX_ABANDONED_ATTEMPTS || manager.engine?.transport?.name === 'websocket') return;
    abandoned++;
    onAbandon();
  };

  return {
    lost() {
      reconnecting = true;
      lastWasWebSocket = manager.engine?.transport?.name === 'websocket';
      if (lastWasWebSocket) pin();
    },
    attempt() {
      if (!reconnecting) return;
      stopWatch();
      timer = clock.setTimeout(hung, ATTEMPT_DEADLINE_MS);
    },
    failed() {
      // socket.io waits out its backoff before the next attempt: nothing hangs meanwhile.
      stopWatch();
      if (pinned) fallBack();
    },
    renew() {
      abandoned = 0;
      if (lastWasWebSocket) pin();
    },
    restore() {
      stopWatch();
      reconnecting = false;
      abandoned = 0;
      unpin();
      if (!fellBack) return;
      fellBack = false;
      if (ownRememberUpgrade === undefined) delete manager.opts.rememberUpgrade;
      else manager.opts.rememberUpgrade = ownRememberUpgrade;
    },
  };
}
