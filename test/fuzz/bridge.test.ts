// @vitest-environment node
// Property-based: hostile input thrown at the bridge from both sides (PUBLISH on Redis, and
// socket.io clients' handshakes and events). The bridge runs in this process, so a throw that
// escaped would fail the test and pollution would show here. After each input a valid change
// still reaches a well-behaved client.
import fc from 'fast-check';
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { checkChange, createSubscriptionParser, parseChangeMessage, parseVersionMessage, readHandshakeList } from '../../src/bridge/messages';
import { verifyToken } from '../../src/bridge/tokens';
import { createCleanups, startBridge, startClient, startRedis, until } from '../bridge/helpers';
import { assertNoPollution, createTally, hostileJson, hostileMessage } from './arbitraries';

const tally = createTally('bridge');
afterAll(() => tally.print());
const cleanups = createCleanups();
afterEach(cleanups.run);

const resources = ['books', '__proto__', 'constructor', 'prototype'];

/** A bridge on Redis with a well-behaved client subscribed to a few resources, and a marker to send. */
async function setup() {
  const redis = await startRedis(cleanups);
  // Every scope allowed: the fuzz aims at parsing and routing, not at authorisation.
  const bridge = await startBridge(cleanups, { redisUrl: redis.url, authorize: () => true, subscribeRate: { burst: 1e6, perSecond: 1e6 } });
  const client = startClient(cleanups, bridge.url);
  const markers: string[] = [];
  client.live.subscribe('books', (change) => {
    if (typeof change.id === 'string' && change.id.startsWith('marker-')) markers.push(change.id);
  });
  for (const resource of resources.slice(1)) client.subscribe(resource);
  client.subscribe('books', 'user:42');
  await until(() => client.live.state === 'connected');
  let count = 0;
  /** Publishes a valid change and waits until the client has it. */
  const marker = async (): Promise<void> => {
    const id = `marker-${++count}`;
    await redis.publish('rt-change', JSON.stringify({ resource: 'books', action: 'update', id }));
    await until(() => markers[markers.length - 1] === id);
  };
  return { redis, bridge, client, marker };
}

describe('bridge parsers (pure)', () => {
  it('never throw and never pollute', () => {
    const parseSubscription = createSubscriptionParser({ maxNameLength: 128 });
    const numRuns = 5000;
    fc.assert(
      fc.property(fc.oneof(hostileJson, hostileMessage, fc.anything()), (input) => {
        const text = typeof input === 'string' ? input : (JSON.stringify(input) ?? '');
        parseChangeMessage(text);
        parseVersionMessage(text);
        checkChange(input);
        parseSubscription(input);
        readHandshakeList(input);
        readHandshakeList({ lu: input });
        verifyToken(input, 'a-secret-of-16-characters');
        verifyToken(`${Buffer.from(text).toString('base64url')}.x`, 'a-secret-of-16-characters');
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('parseChangeMessage/parseVersionMessage/checkChange/parseSubscription/readHandshakeList/verifyToken', numRuns);
  });
});

describe('a bridge on Redis', () => {
  it('drops whatever is PUBLISHed that is not a valid change or version, and relays the next valid change', { timeout: 60_000 }, async () => {
    const { redis, bridge, client, marker } = await setup();
    const numRuns = 300;
    let messages = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('rt-change', 'app-version'), hostileMessage), { minLength: 1, maxLength: 8 }), async (batch) => {
        for (const [channel, message] of batch) await redis.publish(channel, message);
        messages += batch.length;
        await marker();
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('PUBLISH rt-change/app-version (messages)', messages);
    expect(bridge.health()).toMatchObject({ ok: true, clients: 1 });
    expect(client.live.state).toBe('connected');
  });
});

describe('a bridge facing hostile socket.io clients', () => {
  it('accepts or refuses any handshake auth without failing, and keeps serving others', { timeout: 60_000 }, async () => {
    const { bridge, marker } = await setup();
    const numRuns = 200;
    await fc.assert(
      fc.asyncProperty(hostileJson, hostileJson, async (lu, token) => {
        const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { lu, token } });
        try {
          // Greeted, or refused at the transport (a handshake over maxHttpBufferSize): either way, not a crash.
          await new Promise<void>((resolve) => {
            socket.once('lu:hello', () => resolve());
            socket.once('disconnect', () => resolve());
            socket.once('connect_error', () => resolve());
          });
        } finally {
          socket.close();
        }
        await marker();
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('handshake auth { lu, token } (connections)', numRuns);
    await until(() => bridge.health().clients === 1);
  });

  it('answers or drops any event payload, and keeps serving others', { timeout: 60_000 }, async () => {
    const { bridge, marker } = await setup();
    let socket: Socket | undefined;
    const open = async (): Promise<Socket> => {
      if (socket?.connected) return socket;
      socket?.close();
      socket = connect(bridge.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { lu: { v: 1, subs: [] } } });
      await new Promise((resolve) => socket?.once('lu:hello', resolve));
      return socket;
    };
    cleanups.add(() => socket?.close());
    const numRuns = 600;
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('lu:subscribe', 'lu:unsubscribe', 'garbage', '__proto__', 'constructor'), hostileJson, fc.boolean(), async (event, payload, withAck) => {
        const sender = await open();
        if (withAck && event.startsWith('lu:')) {
          // The protocol's events always answer, unless the payload was over maxHttpBufferSize and the connection was closed.
          const reply = await sender.timeout(5000).emitWithAck(event, payload).catch((error: unknown) => {
            if (sender.connected) throw error;
          });
          if (reply !== undefined) replies++;
        } else if (withAck) sender.emit(event, payload, () => undefined); // never answered: no handler
        else sender.emit(event, payload);
        await marker();
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('lu:subscribe/lu:unsubscribe/unknown events (payloads)', numRuns);
    expect(replies).toBeGreaterThan(0);
    expect(bridge.health().ok).toBe(true);
  });
});
