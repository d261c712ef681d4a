// @vitest-environment node
// The deploy store (version set / rollback / show): the same cases against the embedded store and
// the Lua script on a real redis-server; then what a bridge sends live-updates clients and plain
// socket.io-clients, and the CLI's arguments.
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/bridge/bus';
import { parseCli } from '../../src/bridge/cli-args';
import { createSilentLogger } from '../../src/bridge/logger';
import { createRedisBus } from '../../src/bridge/redis-bus';
import { createMemoryVersions, HISTORY_LENGTH, versionKeys } from '../../src/bridge/versions';
import type { VersionStore } from '../../src/bridge/versions';
import { createCleanups, startBridge, startClient, startRedis, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

const keys = versionKeys('app-version', 'app-version');

/** A store, the messages published on the two version channels, and the plain key. */
async function embedded() {
  const bus = createMemoryBus(createSilentLogger());
  const published: string[] = [];
  bus.subscribe(keys.deployChannel, (message) => published.push(`record ${JSON.parse(message).version}`));
  bus.subscribe(keys.channel, (message) => published.push(`name ${message}`));
  let t = 1000;
  const store = createMemoryVersions(bus, keys, () => t++);
  return { store, published, name: () => bus.get(keys.key), classic: (name: string) => bus.set(keys.key, name) };
}

async function onRedis() {
  const redis = await startRedis(cleanups);
  const bus = await createRedisBus({ url: redis.url, logger: createSilentLogger() });
  cleanups.add(() => bus.close());
  const published: string[] = [];
  const subscriber = redis.client.duplicate();
  await subscriber.connect();
  cleanups.add(() => subscriber.destroy());
  await subscriber.subscribe(keys.deployChannel, (message) => published.push(`record ${JSON.parse(message).version}`));
  await subscriber.subscribe(keys.channel, (message) => published.push(`name ${message}`));
  const store = bus.createVersions(keys);
  return { store, published, name: () => redis.client.get(keys.key), classic: (name: string) => redis.client.set(keys.key, name).then(() => undefined), redis };
}

const brief = (deploy: { version: string; build: number | string; deploy: number }) => `${deploy.version}#${deploy.build}@${deploy.deploy}`;
const history = async (store: VersionStore) => (await store.show()).history.map(brief);

describe.each([
  ['embedded', embedded],
  ['redis', onRedis],
] as const)('the deploy store (%s)', (_, make) => {
  it('set stamps the next deploy number and keeps the deploys before it; the name key stays a plain string', async () => {
    const { store, published, name } = await make();
    expect(await store.read()).toBeNull();
    expect(brief(await store.set('v1'))).toBe('v1#1@1');
    expect(brief(await store.set('v2'))).toBe('v2#2@2');
    expect(await store.set('v3', { build: 1234, minBuild: '2025-11-29T10:00:00Z', required: true })).toEqual({ version: 'v3', build: 1234, deploy: 3, at: expect.any(Number), required: true, minBuild: '2025-11-29T10:00:00Z' });
    expect(await name()).toBe('v3');
    expect(await store.read()).toEqual({ version: 'v3', build: 1234, deploy: 3, required: true, minBuild: '2025-11-29T10:00:00Z' });
    expect(await history(store)).toEqual(['v2#2@2', 'v1#1@1']);
    await until(() => published.length === 6);
    expect(published).toEqual(['record v1', 'name v1', 'record v2', 'name v2', 'record v3', 'name v3']);
  });

  it('rollback returns to the deploy before, with its build, under a new deploy number; again goes further back; then refuses', async () => {
    const { store, name } = await make();
    for (const version of ['v1', 'v2', 'v3']) await store.set(version);
    expect(brief(await store.rollback())).toBe('v2#2@4');
    expect(await name()).toBe('v2');
    expect(await history(store)).toEqual(['v1#1@1']);
    expect(brief(await store.rollback())).toBe('v1#1@5');
    await expect(store.rollback()).rejects.toThrow('nothing to roll back to');
    expect((await store.show()).current).toEqual({ version: 'v1', build: 1, deploy: 5 });
  });

  it('a version keeps its build when set again; the same version again is a new deploy that keeps the history', async () => {
    const { store } = await make();
    await store.set('v1');
    await store.set('v2');
    expect(brief(await store.set('v2', { required: true }))).toBe('v2#2@3');
    expect(await history(store)).toEqual(['v1#1@1']);
    expect(brief(await store.set('v1'))).toBe('v1#1@4'); // a rollback written as a set: same place in the order
    expect(await history(store)).toEqual(['v2#2@3', 'v1#1@1']);
  });

  it('a new version without a build comes after the newest numbered build kept, not below the builds pages run', async () => {
    const { store } = await make();
    await store.set('v1', { build: 120 });
    expect(brief(await store.set('hotfix'))).toBe('hotfix#121@2');
    await store.set('v2', { build: '2026-11-29T10:00:00Z' });
    expect(brief(await store.set('hotfix2'))).toBe('hotfix2#122@4'); // times are not counted
  });

  it('keeps the last HISTORY_LENGTH deploys', async () => {
    const { store } = await make();
    for (let i = 0; i <= HISTORY_LENGTH + 2; i++) await store.set(`v${i}`);
    expect((await store.show()).history).toHaveLength(HISTORY_LENGTH);
  });

  it('a classic SET of the name makes that version current, unordered; the next set keeps it for a rollback', async () => {
    const { store, classic } = await make();
    await store.set('v1');
    await classic('hotfix');
    expect(await store.read()).toEqual({ version: 'hotfix' });
    expect(brief(await store.set('v2'))).toBe('v2#3@3');
    expect(await history(store)).toEqual(['hotfix#2@2', 'v1#1@1']);
    expect(brief(await store.rollback())).toBe('hotfix#2@4');
  });

  it('refuses bad versions and builds with a TypeError', async () => {
    const { store } = await make();
    for (const [version, options] of [['  ', {}], ['x'.repeat(257), {}], ['v1', { build: '1.2.3' }], ['v1', { build: -1 }], ['v1', { minBuild: 'soon' }]] as const) {
      await expect(store.set(version, options)).rejects.toThrow(TypeError);
    }
    expect(await store.read()).toBeNull();
  });
});

describe('the deploy store on Redis', () => {
  it('is atomic: concurrent deploys from several connections get distinct numbers and a consistent history', async () => {
    const { redis } = await onRedis();
    const buses = await Promise.all(Array.from({ length: 4 }, () => createRedisBus({ url: redis.url, logger: createSilentLogger() })));
    buses.forEach((bus) => cleanups.add(() => bus.close()));
    const deploys = await Promise.all(Array.from({ length: 40 }, (_, i) => buses[i % 4]!.createVersions(keys).set(`v${i}`)));
    expect(deploys.map((d) => d.deploy).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const { current, history } = await buses[0]!.createVersions(keys).show();
    expect(current?.deploy).toBe(40);
    expect(history.map((d) => d.deploy)).toEqual(Array.from({ length: HISTORY_LENGTH }, (_, i) => 39 - i));
  });
});

describe('what the bridge sends', () => {
  it('live-updates clients get the ordered form, plain socket.io-clients the name; on connection and on each deploy; a rollback withdraws the offer of pages on the rolled-back-to build', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    await bridge.publishVersion('v1');
    await bridge.publishVersion('v2');
    const onV2 = startClient(cleanups, bridge.url, { currentVersion: 'v2' });
    const onV1 = startClient(cleanups, bridge.url, { currentVersion: { version: 'v1', build: 1 } });
    const plain = connect(bridge.url, { transports: ['websocket'], forceNew: true });
    cleanups.add(() => plain.close());
    const plainSeen: unknown[] = [];
    plain.on('app-version', (payload: unknown) => plainSeen.push(payload));
    const notices: Record<string, Array<string | null>> = { onV1: [], onV2: [] };
    onV1.live.onNewVersion(({ latest }) => notices.onV1!.push(latest));
    onV2.live.onNewVersion(({ latest }) => notices.onV2!.push(latest));
    await until(() => notices.onV1!.length === 1 && plainSeen.length === 1);
    expect(plainSeen).toEqual(['v2']);
    expect(notices).toEqual({ onV1: ['v2'], onV2: [] });

    await bridge.publishVersion('v3', { required: true });
    await until(() => notices.onV2!.length === 1 && plainSeen.length === 2);
    expect(onV2.live.availableVersion).toEqual({ version: 'v3', build: 3, required: true });
    const rolledBack = await bridge.rollbackVersion();
    expect(rolledBack).toMatchObject({ version: 'v2', build: 2, deploy: 4 });
    await until(() => notices.onV2!.length === 2 && notices.onV1!.length === 3 && plainSeen.length === 3);
    expect(notices).toEqual({ onV1: ['v2', 'v3', 'v2'], onV2: ['v3', null] });
    expect(onV2.live.availableVersion).toBeNull();
    expect(plainSeen).toEqual(['v2', 'v3', 'v2']);
    // The key old bridges and tutorial servers read is the plain name.
    expect(await redis.client.get('app-version')).toBe('v2');
    // A classic deploy script (SET + PUBLISH the name) still reaches everyone, unordered.
    await redis.client.set('app-version', 'v4');
    await redis.publish('app-version', 'v4');
    await until(() => notices.onV2!.length === 3 && plainSeen.length === 4);
    expect(notices.onV2).toEqual(['v3', null, 'v4']);
    expect([onV1.errors, onV2.errors]).toEqual([[], []]);
  });

  it('sends each deploy once: the name that follows its record is not sent again', async () => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    const socket = connect(bridge.url, { transports: ['websocket'], forceNew: true, auth: { lu: { v: 1, subs: [] } } });
    cleanups.add(() => socket.close());
    const seen: unknown[] = [];
    socket.on('app-version', (payload: unknown) => seen.push(payload));
    await until(() => socket.connected);
    await bridge.publishVersion('v1', { build: '2025-11-29T10:00:00Z' });
    await bridge.publishVersion('v2', { build: '2025-11-29T11:00:00Z' });
    await redis.publish('app-version', 'v2'); // repeated by hand: the same name as the last record, not news
    await redis.publish('app-version', '{"version":"v5","build":5}'); // the ordered form, published by hand
    await until(() => seen.length === 3);
    expect(seen).toEqual([
      { version: 'v1', build: '2025-11-29T10:00:00Z', deploy: 1 },
      { version: 'v2', build: '2025-11-29T11:00:00Z', deploy: 2 },
      { version: 'v5', build: 5 },
    ]);
  });

  it('the embedded bus keeps deploys in memory for in-process use', async () => {
    const bridge = await startBridge(cleanups);
    await bridge.publishVersion('v1');
    await bridge.publishVersion('v2');
    const client = startClient(cleanups, bridge.url, { currentVersion: 'v2' });
    await until(() => client.live.state === 'connected');
    await bridge.publishVersion('v3');
    await until(() => client.live.availableVersion !== null);
    await bridge.rollbackVersion();
    await until(() => client.live.availableVersion === null);
    expect(await bridge.showVersion()).toEqual({ current: { version: 'v2', build: 2, deploy: 4 }, history: [expect.objectContaining({ version: 'v1' })] });
  });
});

describe('the CLI', () => {
  it('parses version set / rollback / show with their flags, and refuses the rest', () => {
    expect(parseCli(['version', 'set', '3f9c2ab', '--build', '1234', '--required', '--min-build', '1200', '--redis', 'redis://r'], {})).toEqual({
      kind: 'version',
      action: 'set',
      version: '3f9c2ab',
      deploy: { build: '1234', required: true, minBuild: '1200' },
      options: { redisUrl: 'redis://r' },
    });
    expect(parseCli(['version', 'rollback'], { REDIS_URL: 'redis://r', LU_VERSION_KEY: 'frontend-app-version' })).toEqual({ kind: 'version', action: 'rollback', options: { redisUrl: 'redis://r', versionKey: 'frontend-app-version' } });
    expect(parseCli(['version', 'show'], {})).toMatchObject({ kind: 'version', action: 'show' });
    for (const bad of [['version'], ['version', 'set'], ['version', 'set', 'a', 'b'], ['version', 'rollback', 'v1'], ['version', 'undo'], ['version', 'show', '--build', '3'], ['--required']]) {
      expect(() => parseCli(bad, {})).toThrow(TypeError);
    }
  });
});

describe('a deploy sequence that started over', () => {
  it('a page follows a restarted embedded bridge whose deploys count from 1 again: the offer of its last life is withdrawn on reconnecting', async () => {
    const first = await startBridge(cleanups);
    await first.publishVersion('v1', { build: 1 });
    const client = startClient(cleanups, first.url);
    const notices: Array<string | null> = [];
    client.live.onNewVersion(({ latest }) => notices.push(latest));
    await until(() => client.live.version === 'v1');
    await first.publishVersion('v2', { build: 2 });
    await first.publishVersion('v3', { build: 3 });
    await until(() => notices.length === 2);
    const { port } = first;
    client.established();
    await first.close();
    // The new process runs v1 again, and its sequence starts at 1: lower than the page heard.
    const second = await startBridge(cleanups, { port: port as number });
    await second.publishVersion('v1', { build: 1 });
    await until(() => notices.length === 3, 10_000);
    expect(notices).toEqual(['v2', 'v3', null]);
    expect(client.live.availableVersion).toBeNull();
  });
});
