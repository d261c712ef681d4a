import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions } from 'socket.io';

/** A real socket.io v4 server on a free loopback port, as plain as the tutorials' servers. */
export async function startServer(options: Partial<ServerOptions> = {}, port = 0) {
  const httpServer = createServer();
  const io = new Server(httpServer, options);
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  const bound = (httpServer.address() as AddressInfo).port;
  let connections = 0;
  io.on('connection', () => connections++);
  return {
    io,
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

/** Resolves with the next value `event` carries on `target`. */
export function next<T = unknown>(target: { once(event: string, listener: (value: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => target.once(event, resolve));
}

/** Polls `predicate` until it holds (events we cannot hook directly, e.g. app-side logs). */
export async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
