// The HTTP side of the bridge that is not socket.io: the health endpoint, and owning (or
// borrowing) the http.Server.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answers a request if it is one of ours; returns whether it did. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The body of `GET /healthz`. */
export interface HealthReport {
  /** `true` unless the bridge is closing or Redis is configured and unreachable. */
  ok: boolean;
  /** `'up'`/`'down'` with Redis, `'embedded'` on the in-memory bus. */
  redis: 'up' | 'down' | 'embedded';
  /** Socket.io clients connected to this process. */
  clients: number;
  /** Closing: new connections are refused while the clients are told to leave (present only then). */
  draining?: true;
}

/**
 * A handler for `GET|HEAD <path>` that answers with the report as JSON: 200 while the process
 * serves its clients, even when `ok` is false for Redis (monitors read `ok`); 503 while it is
 * closing (`draining`), so that load balancers that check the status send new clients elsewhere.
 */
export function createHealthHandler(path: string, report: () => HealthReport): RequestHandler {
  return (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== path || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const body = report();
    res.writeHead(body.draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    return true;
  };
}

/**
 * Puts `handler` in front of a server's existing 'request' listeners, the way engine.io attaches
 * itself: requests it does not take go to the listeners that were there before. Returns the
 * detach function, which restores them.
 */
export function interceptRequests(server: Server, handler: RequestHandler): () => void {
  const previous = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (handler(req, res)) return;
    for (const fn of previous) fn.call(server, req, res);
  };
  server.on('request', listener);
  return () => {
    server.off('request', listener);
    for (const fn of previous) server.on('request', fn);
  };
}

/** An http.Server that answers 404 to whatever nobody else (socket.io, health) takes. */
export function createOwnedServer(): Server {
  return createServer((req, res) => {
    // socket.io and the health handler are put in front of this listener and answer first.
    if (res.headersSent || res.writableEnded) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
}

/** Starts listening and resolves with the bound port (so `port: 0` picks a free one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(boundPort(server) ?? port);
    });
  });
}

/** The port a server is bound to, or `undefined` when it is not listening (or on a pipe). */
export function boundPort(server: Server): number | undefined {
  const address = server.address();
  return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
}
