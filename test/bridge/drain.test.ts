// @vitest-environment node
// Drain on shutdown: close() with drainMs tells the clients to leave in even batches, refuses new
// connections meanwhile (and says so on /healthz), and keeps delivering to those not yet told.
import { request as httpRequest } from 'node:http';
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createCleanups, startBridge, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

describe('drain on shutdown', () => {
  it('disconnects clients spread over drainMs, refuses new ones, keeps delivering to the rest', async () => {
    const bridge = await startBridge(cleanups, { drainMs: 1000 });
    const clients = Array.from({ length: 10 }, () => {
      const socket: Socket = connect(bridge.url, { transports: ['websocket'], forceNew: true, reconnection: false });
      cleanups.add(() => socket.close());
      const record = { socket, leftAt: 0, reason: '', changes: 0 };
      socket.on('disconnect', (reason) => Object.assign(record, { leftAt: Date.now(), reason }));
      socket.on('rt-change', () => record.changes++);
      return record;
    });
    await until(() => clients.every(({ socket }) => socket.connected));

    const start = Date.now();
    const closed = bridge.close();
    await until(() => clients.some(({ leftAt }) => leftAt > 0));
    // Draining: /healthz says so (a load balancer routes elsewhere), a new connection is refused…
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(503);
    const late = connect(bridge.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    cleanups.add(() => late.close());
    await new Promise((resolve) => late.once('connect_error', resolve));
    // …with 503, which a balancer retries elsewhere: a long-polling handshake, a WebSocket one,
    // and a request for a session another process holds (that its own sessions go through shows
    // below: the clients not yet told keep getting changes).
    expect((await fetch(`${bridge.url}/socket.io/?EIO=4&transport=polling`)).status).toBe(503);
    expect((await fetch(`${bridge.url}/socket.io/?EIO=4&transport=polling&sid=elsewhere`)).status).toBe(503);
    const upgrade = await new Promise<string>((resolve) => {
      const request = httpRequest(`${bridge.url}/socket.io/?EIO=4&transport=websocket`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      request.on('response', (response) => resolve(String(response.statusCode)));
      request.on('upgrade', () => resolve('upgraded'));
      request.end();
    });
    expect(upgrade).toBe('503');

    // …and the clients not yet told still get changes.
    await bridge.publishChange({ resource: 'books', action: 'create', id: 1 });
    await until(() => clients.some(({ changes, leftAt }) => changes === 1 && leftAt === 0) || clients.every(({ leftAt }) => leftAt > 0));
    await closed;

    const times = clients.map(({ leftAt }) => leftAt - start).sort((a, b) => a - b);
    expect(clients.every(({ reason }) => reason === 'io server disconnect')).toBe(true);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(700); // spread, not one wave
    expect(clients.filter(({ changes }) => changes === 1).length).toBeGreaterThan(0);
  });
});
