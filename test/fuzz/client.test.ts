// @vitest-environment node
// Property-based: hostile JSON thrown at the browser client's parsers and router, and at a live
// client over a real socket.io server. No throw escapes, no prototype is polluted, and a valid
// change sent after each input still arrives.
import fc from 'fast-check';
import type { Socket as ServerSocket } from 'socket.io';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLiveUpdates } from '../../src/index';
import { parseChange, parseHello, parseReply, parseResync, parseVersion } from '../../src/messages';
import { createRouter } from '../../src/router';
import { createManualSignals } from '../helpers/manual-signals';
import { startServer, until } from '../helpers/server';
import { assertNoPollution, hostileJson, hostileMessage } from './arbitraries';
import { createTally } from './arbitraries';

const tally = createTally('client');
afterAll(() => tally.print());
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const resources = ['books', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

describe('client parsers and router (pure)', () => {
  it('never throw and never pollute, whatever they are given', () => {
    let handled = 0;
    let handlerErrors = 0;
    const router = createRouter(() => handlerErrors++);
    for (const resource of resources) {
      router.add(resource, (change) => {
        handled++;
        // A handler that does what careless app code does with the payload.
        Object.assign({}, change.obj);
        if (typeof change.id === 'number' && change.id % 7 === 0) throw new Error('handler bug');
      });
      router.add(resource, () => handled++, 'user:42');
    }
    const numRuns = 5000;
    let ownProto = 0;
    fc.assert(
      fc.property(fc.oneof(hostileJson, hostileMessage, fc.anything()), (input) => {
        if (input && typeof input === 'object' && Object.hasOwn(input, '__proto__')) ownProto++;
        const change = parseChange(input);
        if (change.ok) router.dispatch(change.value);
        parseVersion(input);
        parseResync(input);
        parseHello(input);
        parseReply(input);
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('parseChange/parseVersion/parseResync/parseHello/parseReply + router.dispatch', numRuns);
    expect(handled).toBeGreaterThan(0); // some inputs were valid changes and got through
    expect(ownProto).toBeGreaterThan(0); // and some carried an own "__proto__" key
  });
});

describe('a live client against a real socket.io server', () => {
  it('survives hostile payloads on every event it listens to, and still receives the next valid change', { timeout: 60_000 }, async () => {
    const server = await startServer();
    cleanups.push(server.close);
    let peer: ServerSocket | undefined;
    server.io.on('connection', (socket) => (peer = socket));
    const live = createLiveUpdates({ url: server.url, socketOptions: { transports: ['websocket'] }, environment: { signals: createManualSignals().source }, refetchSpreadMs: 0 });
    cleanups.push(() => live.close());
    const markers: string[] = [];
    const codes = new Set<string>();
    live.onError((error) => codes.add(error.code));
    live.subscribe('books', (change) => {
      if (typeof change.id === 'string' && change.id.startsWith('marker-')) markers.push(change.id);
    });
    for (const resource of resources.slice(1)) live.subscribe(resource, (change) => Object.assign({}, change.obj));
    live.onNewVersion(() => undefined);
    await until(() => live.state === 'connected' && peer !== undefined);

    const numRuns = 800;
    let marker = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('rt-change', 'app-version', 'lu:hello', 'lu:resync'), fc.oneof(hostileJson, hostileMessage), async (event, payload) => {
        peer?.emit(event, payload);
        const id = `marker-${++marker}`;
        peer?.emit('rt-change', { resource: 'books', action: 'update', id });
        await until(() => markers[markers.length - 1] === id);
        assertNoPollution();
      }),
      { numRuns },
    );
    tally.add('createLiveUpdates over socket.io (rt-change, app-version, lu:hello, lu:resync)', numRuns);
    expect(live.state).toBe('connected');
    expect(codes.has('invalid-message')).toBe(true); // the bad ones were reported, not thrown
  });
});
