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
  const io = new Server(httpServer, {
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
  dropFirstRequests(io);
  return io;
}

/**
 * Lets go of each connection's first HTTP request once the main namespace's handshake has read it,
 * as socket.io's "Memory usage" page advises (https://socket.io/docs/v4/memory-usage/), but not on
 * the engine's 'connection' as the page does: socket.handshake (headers, url, query) is built from
 * that request when the socket.io CONNECT arrives, after the engine connection, and the authoriser
 * reads socket.handshake.headers (cookie, authorization) for the connection's whole life (the
 * headers object stays referenced there). Stops once the app adds a namespace, whose handshake on
 * the same connection may come later (a child of `io.of(/regex/)` is added when a client first asks
 * for it: a connection that dropped its request before then finds empty headers there). Saves ~3 kB
 * per connection opened by long-polling; engine.io 6.6 keeps a WebSocket upgrade's request until
 * its TCP socket closes whatever we do.
 */
function dropFirstRequests(io: Server): void {
  let mainOnly = true;
  io.on('new_namespace', (namespace) => {
    if (namespace.name !== '/') mainOnly = false;
  });
  io.on('connection', (socket) => {
    if (mainOnly) (socket.conn as { request: IncomingMessage | null }).request = null;
  });
}
