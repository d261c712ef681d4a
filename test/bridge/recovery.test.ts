// @vitest-environment node
// Connection state recovery skips middlewares and restores rooms: the protocol re-checks the
// handshake list in the connection handler instead. The bridge's Redis adapter does not
// recover sessions, so this runs the protocol on a plain socket.io server that does.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthorizer, createPrivacyRule } from '../../src/bridge/authorize';
import { createSilentLogger } from '../../src/bridge/logger';
import { attachProtocol } from '../../src/bridge/protocol';
import { startServer } from '../helpers/server';
import { createCleanups, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

describe('a recovered connection', () => {
  it('is re-authorised and made to match its new handshake list', async () => {
    const server = await startServer({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } });
    cleanups.add(server.close);
    let allowed = true;
    const logger = createSilentLogger();
    const protocol = attachProtocol(server.io, {
      changeEvent: 'rt-change',
      authorizer: createAuthorizer({ authorize: () => allowed, authTimeoutMs: 1000, logger }),
      isPrivate: createPrivacyRule([]),
      maxSubscriptions: 10,
      maxNameLength: 50,
      subscribeRate: { burst: 10, perSecond: 10 },
      handshakeTimeoutMs: 1000,
      refetchSlot: () => null,
    log: null,
      logger,
    });
    let subs: unknown[] = [{ resource: 'orders', scope: 'user:42' }, { resource: 'books' }];
    const socket = connect(server.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 20, auth: (callback) => callback({ lu: { v: 1, subs } }) });
    cleanups.add(() => socket.close());
    const hellos: unknown[] = [];
    const changes: unknown[] = [];
    socket.on('lu:hello', (hello: unknown) => hellos.push(hello));
    socket.on('rt-change', (change: { id: unknown }) => changes.push(change.id));
    await until(() => hellos.length === 1);
    protocol.deliver({ resource: 'orders', action: 'update', id: 1, scope: 'user:42' });
    await until(() => changes.length === 1);

    allowed = false;
    subs = [{ resource: 'orders', scope: 'user:42' }, { resource: 'authors' }]; // books dropped meanwhile
    socket.io.engine.close(); // a transport loss: the client reconnects and the server recovers the session
    await until(() => hellos.length === 2);
    expect(socket.recovered).toBe(true);
    expect(hellos[1]).toEqual({ v: 1, denied: [{ resource: 'orders', scope: 'user:42', code: 'forbidden' }], batch: true });
    protocol.deliver({ resource: 'orders', action: 'update', id: 2, scope: 'user:42' });
    protocol.deliver({ resource: 'books', action: 'update', id: 3 });
    protocol.deliver({ resource: 'authors', action: 'update', id: 4 });
    await until(() => changes.includes(4));
    expect(changes).toEqual([1, 4]);
  });
});
