import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy that can make its open connections go silent — no FIN, no RST, bytes just stop —
 * the way a link dies during a laptop's sleep. New connections keep working.
 */
export async function startBlackholeProxy(targetPort: number) {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; frozen: boolean }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.on('data', (chunk) => pair.frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => pair.frozen || client.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Silences every connection open now, in both directions, without closing any. */
    freeze: () => pairs.forEach((pair) => (pair.frozen = true)),
    open: () => pairs.size,
    close: () =>
      new Promise<void>((resolve) => {
        pairs.forEach((pair) => (pair.client.destroy(), pair.upstream.destroy()));
        server.close(() => resolve());
      }),
  };
}
