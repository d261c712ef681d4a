// The socket.io server: heartbeat, origin checks, message size cap, and attaching to the http.Server.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { ResolvedBridgeOptions } from './options.js';

/**
 * Creates the socket.io server on `httpServer` with the bridge's heartbeat and origin rules.
 * `isAccepting` turns new connections away (403) while the bridge shuts down, so clients told
 * to leave do not reconnect to the same, closing process (http.ts's `refuseNewSessions` answers
 * their handshakes 503 first, which balancers retry elsewhere).
 */
export function createIoServer(httpServer: HttpServer, options: ResolvedBridgeOptions, isAccepting: () => boolean): Server {
  const { origins, path, pingInterval, pingTimeout, maxHttpBufferSize } = options;
  const allowAll = origins === '*';
  const allowed = new Set<string>(allowAll ? [] : origins);
  return new Server(httpServer, {
    path,
    pingInterval,
    pingTimeout,
    serveClient: false,
    maxHttpBufferSize,
    // CORS only guards long-polling; the WebSocket upgrade is checked in allowRequest below.
    cors: { origin: allowAll ? true : [...allowed], credentials: true },
    allowRequest: (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => {
      const origin = req.headers.origin;
      callback(null, isAccepting() && (allowAll || origin === undefined || allowed.has(origin)));
    },
  });
}
