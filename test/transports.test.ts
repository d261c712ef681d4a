// How reconnection attempts use the transports (src/transports.ts), on a real socket.io Manager
// that has upgraded to WebSocket, under a fake clock.
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTEMPT_DEADLINE_MS, createTransportMemory, MAX_ABANDONED_ATTEMPTS } from '../src/transports';
import { createFakeClock } from './helpers/fake-clock';
import { startServer, until } from './helpers/server';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upgraded(): Promise<Socket> {
  const server = await startServer();
  cleanups.push(server.close);
  const socket = connect(server.url, { forceNew: true, rememberUpgrade: true });
  cleanups.push(() => socket.disconnect());
  // The first test's socket upgrades; later ones may open straight over WebSocket (rememberUpgrade).
  await until(() => socket.connected && socket.io.engine.transport.name === 'websocket');
  return socket;
}

/**
 * A memory on a socket connected over `transports` only, whose abandon starts the next attempt
 * at once (as the connection does); `abandoned()` counts them.
 */
async function retrying(transports: Array<'websocket' | 'polling'>) {
  const server = await startServer();
  cleanups.push(server.close);
  const socket = connect(server.url, { forceNew: true, transports });
  cleanups.push(() => socket.disconnect());
  await until(() => socket.connected);
  const clock = createFakeClock();
  let count = 0;
  const memory = createTransportMemory(socket.io, clock, () => {
    count++;
    memory.attempt();
  });
  return { clock, memory, abandoned: () => count };
}

describe('transport memory', () => {
  it('after losing a WebSocket link: WebSocket only, until an attempt hangs; then polling first, rememberUpgrade off, at once', async () => {
    const socket = await upgraded();
    const clock = createFakeClock();
    let abandoned = 0;
    const memory = createTransportMemory(socket.io, clock, () => abandoned++);
    memory.lost();
    expect(socket.io.opts.transports).toEqual(['websocket']);
    memory.attempt();
    clock.advance(ATTEMPT_DEADLINE_MS - 1);
    expect(abandoned).toBe(0);
    clock.advance(1);
    expect(abandoned).toBe(1);
    expect(socket.io.opts.transports).toBeUndefined(); // the app's own (socket.io's default list)
    expect(socket.io.opts.rememberUpgrade).toBe(false); // or engine.io goes straight back to WebSocket
    memory.restore();
    expect(socket.io.opts.rememberUpgrade).toBe(true);
  });

  it('falls back at once when a WebSocket-only attempt fails', async () => {
    const socket = await upgraded();
    const clock = createFakeClock();
    let abandoned = 0;
    const memory = createTransportMemory(socket.io, clock, () => abandoned++);
    memory.lost();
    memory.attempt();
    memory.failed();
    expect(abandoned).toBe(1);
    expect(socket.io.opts.transports).toBeUndefined();
    clock.advance(60_000); // a failed attempt waits out socket.io's backoff: nothing to abandon
    expect(abandoned).toBe(1);
    memory.renew(); // woke or back online: WebSocket first again
    expect(socket.io.opts.transports).toEqual(['websocket']);
  });

  it('abandons no WebSocket attempt that merely hangs: a fresh connection, so the server is slow (a restart crowd)', async () => {
    const { clock, memory, abandoned } = await retrying(['websocket']);
    memory.lost();
    memory.attempt();
    clock.advance(10 * ATTEMPT_DEADLINE_MS);
    expect(abandoned()).toBe(0); // socket.io's own connect timeout applies
  });

  it('abandons long-polling attempts that hang (dead pooled connections), a few in a row at most, then leaves it to socket.io', async () => {
    const { clock, memory, abandoned } = await retrying(['polling']);
    memory.lost();
    memory.attempt();
    clock.advance(10 * ATTEMPT_DEADLINE_MS);
    expect(abandoned()).toBe(MAX_ABANDONED_ATTEMPTS);
    memory.renew(); // woke again: a fresh budget
    memory.attempt();
    clock.advance(10 * ATTEMPT_DEADLINE_MS);
    expect(abandoned()).toBe(2 * MAX_ABANDONED_ATTEMPTS);
    memory.restore(); // connected
    memory.attempt(); // not reconnecting any more: no watch
    clock.advance(10 * ATTEMPT_DEADLINE_MS);
    expect(abandoned()).toBe(2 * MAX_ABANDONED_ATTEMPTS);
  });
});
