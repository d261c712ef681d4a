// @vitest-environment node
// Replay end to end, with the real client and real bridges (embedded and on Redis): a client back
// from a gap is sent what it missed, in order, once, and refetches only what the log cannot cover.
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Emitter } from '@socket.io/redis-emitter';
import type { Bridge } from '../../src/bridge/index';
import { roomOf } from '../../src/bridge/index';
import type { Change, RefetchReason, StateReason } from '../../src/index';
import { PROTOCOL } from '../../src/subscriptions';
import { createCleanups, startBridge, startClient, startRedis, startSwitch, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

const update = (resource: string, id: number) => ({ resource, action: 'update' as const, id });

/**
 * A client behind a switch (so the test decides when it may reconnect) that records changes, loads
 * and state reasons. Returned once the bridge greeted it: a connection cut before its greeting
 * leaves the client without positions in the log (so its next gap is refetched, rightly), which
 * is not what these tests cut.
 */
async function startWatchedClient(target: number, resources: string[]) {
  const front = await startSwitch(cleanups, target);
  const socket = io(front.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 20, reconnectionDelayMax: 100 });
  cleanups.add(() => socket.close());
  const greeted = new Promise((resolve) => socket.once(PROTOCOL.hello, resolve));
  const client = startClient(cleanups, front.url, { socket });
  const seen: string[] = [];
  const loads: string[] = [];
  const reasons: StateReason[] = [];
  client.live.onStateChange((_, info) => reasons.push(info.reason));
  const readies = resources.map((resource) =>
    client.live.subscribe(resource, (change: Change) => seen.push(`${change.resource}:${String(change.id)}`), {
      refetch: ({ reason }: { reason: RefetchReason }) => void loads.push(`${resource}:${reason}`),
    }).ready,
  );
  await Promise.all([...readies, greeted]);
  return { client, front, seen, loads, reasons };
}

/** Ends the client's connection and keeps it away (its switch points nowhere) until `back()`. */
async function cut(bridge: Bridge, watched: Awaited<ReturnType<typeof startWatchedClient>>) {
  const { front, client } = watched;
  const target = bridge.port as number;
  client.established();
  front.point(null); // reconnection attempts fail
  bridge.io.disconnectSockets(true);
  await until(() => client.live.state !== 'connected');
  return {
    /** Lets it reconnect, to its bridge or to `to`. */
    back: async (to = target) => {
      front.point(to);
      await until(() => client.live.state === 'connected');
    },
  };
}

describe.each([
  ['embedded bus', async () => ({})],
  ['Redis', async () => ({ redisUrl: (await startRedis(cleanups)).url })],
])('replay on the %s', (_, options) => {
  it('a client back from a server disconnect gets what it missed, in order, and refetches nothing', async () => {
    const bridge = await startBridge(cleanups, await options());
    const watched = await startWatchedClient(bridge.port as number, ['books', 'authors']);
    await bridge.publishChange(update('books', 1));
    await until(() => watched.seen.length === 1);
    const gap = await cut(bridge, watched);
    for (const id of [2, 3, 4]) await bridge.publishChange(update('books', id));
    await bridge.publishChange(update('authors', 5));
    await gap.back();
    await until(() => watched.reasons.at(-1) === 'replayed');
    expect(watched.seen).toEqual(['books:1', 'books:2', 'books:3', 'books:4', 'authors:5']);
    expect(watched.loads.sort()).toEqual(['authors:subscribed', 'books:subscribed']); // no reload after the gap
    await bridge.publishChange(update('books', 6)); // and live again
    await until(() => watched.seen.length === 6);
    expect(watched.client.errors.filter((error) => error.code !== 'connect-error')).toEqual([]); // attempts fail while it is kept away
  });

  it('refetches only the resource whose missed changes the log no longer holds', async () => {
    const bridge = await startBridge(cleanups, { ...(await options()), logMaxLength: 2 });
    const watched = await startWatchedClient(bridge.port as number, ['books', 'authors']);
    const gap = await cut(bridge, watched);
    for (const id of [1, 2, 3]) await bridge.publishChange(update('books', id)); // 3 > 2: trimmed
    await bridge.publishChange(update('authors', 4));
    await gap.back();
    await until(() => watched.loads.includes('books:server-disconnect'));
    expect(watched.seen).toEqual(['authors:4']); // replayed; books reloaded instead
    expect(watched.loads.filter((load) => load.startsWith('authors'))).toEqual(['authors:subscribed']);
    expect(watched.reasons.at(-1)).toBe('reconnected');
  });
});

describe('replay and live deliveries', () => {
  it('delivers each change once when live ones arrive while the replay is read', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    const watched = await startWatchedClient(bridge.port as number, ['books']);
    const gap = await cut(bridge, watched);
    for (const id of [1, 2, 3]) await bridge.publishChange(update('books', id));
    // Publishers keep going while the client comes back: some of these are live, some replayed.
    let publishing = true;
    let last = 3;
    const publisher = (async () => {
      while (publishing || last < 40) await bridge.publishChange(update('books', ++last));
    })();
    await gap.back();
    publishing = false;
    await publisher;
    await until(() => watched.seen.length >= last);
    expect(watched.seen).toEqual(Array.from({ length: last }, (_, index) => `books:${index + 1}`));
    expect(watched.loads).toEqual(['books:subscribed']);
  });

  it('refetches across a plain PUBLISH (no offset) and after Redis lost the log (FLUSHALL)', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    const watched = await startWatchedClient(bridge.port as number, ['books', 'authors']);
    let gap = await cut(bridge, watched);
    await redis.publish('rt-change', JSON.stringify(update('books', 1))); // a backend without the log
    await bridge.publishChange(update('authors', 2));
    await gap.back();
    await until(() => watched.loads.includes('books:server-disconnect'));
    expect(watched.loads.filter((load) => load.startsWith('authors'))).toEqual(['authors:subscribed']);

    gap = await cut(bridge, watched);
    await redis.client.flushAll();
    await bridge.publishChange(update('authors', 3));
    await gap.back();
    await until(() => watched.loads.includes('authors:server-disconnect'));
    expect(watched.seen).toEqual(['authors:2']); // 3 came in a new epoch: reloaded, not replayed
  });

  it('refetches across a plain PUBLISH sent while no bridge listened (the only bridge restarting), once plain publishers were seen', async () => {
    const redis = await startRedis(cleanups);
    const first = await startBridge(cleanups, { redisUrl: redis.url });
    const watched = await startWatchedClient(first.port as number, ['books', 'authors']);
    await redis.publish('rt-change', JSON.stringify(update('books', 1))); // this app has plain publishers
    await until(() => watched.seen.length === 1);
    const gap = await cut(first, watched);
    await first.close();
    expect(await redis.publish('rt-change', JSON.stringify(update('books', 2)))).toBe(0); // reaches nobody
    const second = await startBridge(cleanups, { redisUrl: redis.url });
    await gap.back(second.port as number);
    await until(() => watched.loads.includes('books:server-disconnect') && watched.loads.includes('authors:server-disconnect'));
    expect(watched.seen).toEqual(['books:1']);

    // A gap while the new bridge listens is replayed again.
    const next = await cut(second, watched);
    await second.publishChange(update('books', 3));
    await next.back();
    await until(() => watched.reasons.at(-1) === 'replayed');
    expect(watched.seen).toEqual(['books:1', 'books:3']);
  });

  it('replays across a restart of the only bridge when every change went through the log', async () => {
    const redis = await startRedis(cleanups);
    const first = await startBridge(cleanups, { redisUrl: redis.url });
    const watched = await startWatchedClient(first.port as number, ['books']);
    const gap = await cut(first, watched);
    await first.close();
    const second = await startBridge(cleanups, { redisUrl: redis.url });
    await second.publishChange(update('books', 1));
    await gap.back(second.port as number);
    await until(() => watched.reasons.at(-1) === 'replayed');
    expect(watched.seen).toEqual(['books:1']);
    expect(watched.loads).toEqual(['books:subscribed']);
  });

  it('refetches across a change an emitter library sent past the bridge, to everyone or to the room', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    const emitter = new Emitter(redis.client);
    const watched = await startWatchedClient(bridge.port as number, ['books', 'authors']);
    let gap = await cut(bridge, watched);
    emitter.emit('rt-change', update('books', 1)); // the socket.io-emitter way: to every socket
    await bridge.publishChange(update('authors', 2)); // after it: the mark was read first
    await gap.back();
    await until(() => watched.loads.includes('books:server-disconnect'));
    expect(watched.loads.filter((load) => load.startsWith('authors'))).toEqual(['authors:subscribed']);

    gap = await cut(bridge, watched);
    // To the room, while no socket of this process is in it (every client is away).
    emitter.to(roomOf('authors')).emit('rt-change', update('authors', 3));
    await bridge.publishChange(update('books', 4));
    await gap.back();
    await until(() => watched.loads.includes('authors:server-disconnect'));
    expect(watched.loads.filter((load) => load === 'books:server-disconnect')).toHaveLength(1); // books: replayed this time
    expect(watched.seen).toEqual(['authors:2', 'books:4']);
  });

  it('two bridge processes on one Redis replay the same log to a client that moves between them', async () => {
    const redis = await startRedis(cleanups);
    const first = await startBridge(cleanups, { redisUrl: redis.url });
    const second = await startBridge(cleanups, { redisUrl: redis.url });
    const watched = await startWatchedClient(first.port as number, ['books']);
    await first.publishChange(update('books', 1));
    await until(() => watched.seen.length === 1);
    const gap = await cut(first, watched);
    await first.publishChange(update('books', 2));
    await second.publishChange(update('books', 3));
    await gap.back(second.port as number);
    await until(() => watched.reasons.at(-1) === 'replayed');
    expect(second.health().clients).toBe(1);
    expect(watched.seen).toEqual(['books:1', 'books:2', 'books:3']);
    expect(watched.loads).toEqual(['books:subscribed']);
  });
});
