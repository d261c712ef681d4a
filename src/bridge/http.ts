// The HTTP side of the bridge that is not socket.io: the health endpoint, and owning (or
// borrowing) the http.Server.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

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

/** Answers an upgrade (WebSocket) request if it is one of ours; returns whether it did. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex) => boolean;

/** As {@link interceptRequests}, for `upgrade` events (engine.io's WebSocket handshakes). */
export function interceptUpgrades(server: Server, handler: UpgradeHandler): () => void {
  const previous = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
  server.removeAllListeners('upgrade');
  const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (handler(req, socket)) return;
    for (const fn of previous) fn.call(server, req, socket, head);
  };
  server.on('upgrade', listener);
  return () => {
    server.off('upgrade', listener);
    for (const fn of previous) server.on('upgrade', fn);
  };
}

/**
 * While `isDraining()`, answers `503 Service Unavailable` to socket.io requests that are not for
 * one of this process's sessions (`hasSession`): handshakes (no `sid`, long-polling or WebSocket),
 * and requests of sessions another process opened (a sticky rule by address sends those here
 * too). A load balancer that retries on 503 (nginx `proxy_next_upstream http_503`) then takes them
 * to another process; requests of this process's open sessions go through. Returns the detach.
 */
export function refuseNewSessions(server: Server, path: string, isDraining: () => boolean, hasSession: (sid: string) => boolean): () => void {
  const isHandshake = (req: IncomingMessage): boolean => {
    if (!isDraining()) return false;
    const url = new URL(req.url ?? '/', 'http://bridge');
    if (url.pathname !== path && !url.pathname.startsWith(`${path.replace(/\/$/, '')}/`)) return false;
    const sid = url.searchParams.get('sid');
    return sid === null || !hasSession(sid);
  };
  const detachRequests = interceptRequests(server, (req, res) => {
    if (!isHandshake(req)) return false;
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1', connection: 'close' });
    res.end('draining: connect to another process');
    return true;
  });
  const detachUpgrades = interceptUpgrades(server, (req, socket) => {
    if (!isHandshake(req)) return false;
    socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return true;
  });
  return () => {
    detachUpgrades();
    detachRequests();
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
