// Fixtures of the bridge tests: a throwaway redis-server, a tiny app with an auth endpoint,
// bridges on free ports, and live-updates clients that record what they receive.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedis as startRedisServer } from '../../e2e/fixtures/redis';
import { startSwitchProxy, type SwitchProxy } from '../../e2e/fixtures/switch-proxy';
import { createBridge, createSilentLogger } from '../../src/bridge/index';
import type { Bridge, BridgeOptions } from '../../src/bridge/index';
import { createLiveUpdates } from '../../src/index';
import type { Change, LiveUpdatesError, LiveUpdatesOptions } from '../../src/index';
import { KICK_WINDOW_MS } from '../../src/reconnect-policy';
import { createShiftedClock } from '../helpers/fake-clock';
import { createManualSignals } from '../helpers/manual-signals';

export { until } from '../helpers/server';

/** Teardowns run after each test, last first. */
export function createCleanups() {
  const list: Array<() => unknown> = [];
  return {
    add: (fn: () => unknown) => list.push(fn),
    run: async () => {
      for (const fn of list.splice(0).reverse()) await fn();
    },
  };
}
export type Cleanups = ReturnType<typeof createCleanups>;

/** `redis-server --port <free> --save '' --appendonly no` (the e2e fixture), stopped after the test. */
export async function startRedis(cleanups: Cleanups) {
  const redis = await startRedisServer();
  cleanups.add(redis.stop);
  return redis;
}

export async function startBridge(cleanups: Cleanups, options: BridgeOptions = {}): Promise<Bridge & { url: string }> {
  const bridge = await createBridge({ port: 0, logger: createSilentLogger(), ...options });
  cleanups.add(() => bridge.close());
  return Object.assign(bridge, { url: `http://127.0.0.1:${bridge.port}` });
}

/** One request the app's auth endpoint received. */
export interface AuthCall {
  body: { socket_id?: string; resource?: string; scope?: string | null };
  headers: IncomingHttpHeaders;
}

/**
 * The app side: `POST /auth` allows `grants[token]` (token from `Authorization: Bearer`),
 * answers `status` when it is set, and records every call.
 */
export async function startAuthApp(cleanups: Cleanups, grants: Record<string, string[]>) {
  const calls: AuthCall[] = [];
  const app = { calls, status: undefined as number | undefined, delayMs: 0 };
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as AuthCall['body'];
      calls.push({ body, headers: req.headers });
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const key = body.scope === null || body.scope === undefined ? `${body.resource}` : `${body.resource}#${body.scope}`;
      const status = app.status ?? ((grants[token] ?? []).includes(key) ? 200 : 403);
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'), app.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.add(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return Object.assign(app, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth` });
}

/** A live-updates client (the real one) that logs its changes and errors as strings. */
export function startClient(cleanups: Cleanups, url: string, options: LiveUpdatesOptions = {}) {
  const clock = createShiftedClock();
  const signals = createManualSignals();
  const live = createLiveUpdates({
    url,
    socketOptions: { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 100 },
    environment: { clock, signals: signals.source },
    refetchSpreadMs: 0,
    ...options,
  });
  cleanups.add(() => live.close());
  const changes: string[] = [];
  const errors: LiveUpdatesError[] = [];
  live.onError((error) => errors.push(error));
  const record = (change: Change): void => {
    changes.push(`${change.resource}${change.scope === undefined ? '' : `#${change.scope}`}:${change.id}`);
  };
  return {
    live,
    /** Browser signals, fired by hand. */
    signals,
    changes,
    errors,
    codes: () => errors.map((error) => `${error.code}:${error.resource}${error.scope === undefined ? '' : `#${error.scope}`}`),
    subscribe: (resource: string, scope?: string) => live.subscribe(resource, record, scope === undefined ? {} : { scope }),
    /** Makes the current connection look older than the kick window: the server ending it now is a gap, not a kick. */
    established: () => clock.skip(KICK_WINDOW_MS),
  };
}

/**
 * A TCP front for bridges, as a load balancer is (e2e's switch proxy), closed after the test: each
 * new connection goes where it points, so a client that reconnects after its bridge left lands on
 * another process.
 */
export async function startSwitch(cleanups: Cleanups, target: number): Promise<SwitchProxy> {
  const proxy = await startSwitchProxy(target);
  cleanups.add(proxy.close);
  return proxy;
}
