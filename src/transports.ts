// Reconnect with the transport that last worked. After a sleep, the browser's pooled keep-alive
// connections to the server can be as dead as the old link, and a long-polling request sent on
// one hangs until socket.io's 20 s connect timeout. engine.io-client's `rememberUpgrade` would go
// straight to a WebSocket (always a fresh connection), but it forgets after the first failed
// attempt (a server still restarting, a network not back yet), and the next attempt polls. So
// while reconnecting after a WebSocket link, only WebSocket is tried, for the first few attempts;
// after that socket.io's own transport list (with its polling fallback) is restored, in case the
// network now blocks WebSockets. Configures socket.io through its public `opts`.
import type { Manager } from 'socket.io-client';

/** Attempts that try WebSocket only before socket.io's own transport list is restored. */
const WEBSOCKET_ONLY_ATTEMPTS = 5;

/** The transport memory of one socket.io Manager. */
export interface TransportMemory {
  /** The link is gone: reconnect the way it was connected. */
  lost(): void;
  /** A reconnection attempt failed. */
  failed(): void;
  /** Connected again (or closing): socket.io's own transports from now on. */
  restore(): void;
}

/** Creates the memory for `manager`. */
export function createTransportMemory(manager: Manager): TransportMemory {
  const own = manager.opts.transports;
  let pinned = false;
  let failures = 0;
  const restore = (): void => {
    if (!pinned) return;
    pinned = false;
    if (own === undefined) delete manager.opts.transports;
    else manager.opts.transports = own;
  };
  return {
    lost() {
      if (pinned || manager.engine?.transport?.name !== 'websocket') return;
      pinned = true;
      failures = 0;
      manager.opts.transports = ['websocket'];
    },
    failed() {
      if (pinned && ++failures >= WEBSOCKET_ONLY_ATTEMPTS) restore();
    },
    restore,
  };
}
