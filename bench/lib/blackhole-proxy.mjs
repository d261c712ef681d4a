// A TCP proxy whose open connections can be silenced — no FIN, no RST, bytes just stop both
// ways — the way a link dies during a laptop's sleep. Connections opened later work normally.
// (e2e/fixtures/blackhole-proxy.ts, in plain JS for the benchmarks, which run on plain node.)
import net from 'node:net';

export async function startBlackholeProxy(targetPort) {
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      if (pair.frozen) return; // a dead link never learns that the other side left
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Silences every connection open now; returns how many. */
    freeze() {
      let count = 0;
      for (const pair of pairs) {
        if (pair.frozen) continue;
        pair.frozen = true;
        count++;
        pair.client.unpipe(pair.upstream);
        pair.upstream.unpipe(pair.client);
        pair.client.pause();
        pair.upstream.pause();
      }
      return count;
    },
    close: () =>
      new Promise((resolve) => {
        for (const pair of pairs) pair.client.destroy(), pair.upstream.destroy();
        server.close(() => resolve());
      }),
  };
}
