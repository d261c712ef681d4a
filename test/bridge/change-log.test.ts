// @vitest-environment node
// The change log's rules, run against both implementations: in memory (the embedded bus) and the
// Redis functions on a real redis-server (what backends call with FCALL).
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/bridge/bus';
import type { ChangeLog, LogLimits, LogPosition, LogReply } from '../../src/bridge/change-log';
import { createMemoryLog } from '../../src/bridge/change-log';
import { createSilentLogger } from '../../src/bridge/logger';
import { createRedisLog } from '../../src/bridge/redis-log';
import { createCleanups, startRedis, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

const CHANNEL = 'rt-change';
const change = (id: number, extra: Record<string, unknown> = {}): string => JSON.stringify({ resource: 'books', action: 'update', id, ...extra });
const ids = (reply: LogReply): unknown[] => (reply.status === 'ok' ? reply.messages.map((message) => (JSON.parse(message) as { id: unknown }).id) : []);

interface Subject {
  log: ChangeLog;
  /** Every message published on the change channel, as received by a subscriber. */
  published: string[];
}

async function memorySubject(limits: LogLimits, now?: () => number): Promise<Subject> {
  const bus = createMemoryBus(createSilentLogger());
  const published: string[] = [];
  bus.subscribe(CHANNEL, (message) => published.push(message));
  return { log: createMemoryLog({ ...limits, bus, channel: CHANNEL, ...(now ? { now } : {}) }), published };
}

async function redisSubject(limits: LogLimits) {
  const redis = await startRedis(cleanups);
  const client = createClient({ url: redis.url });
  await client.connect();
  const subscriber = client.duplicate();
  await subscriber.connect();
  cleanups.add(() => Promise.all([client.close(), subscriber.close()]));
  const published: string[] = [];
  await subscriber.subscribe(CHANNEL, (message) => published.push(message));
  const log = createRedisLog({ fCall: (name, args) => client.fCall(name, args), functionLoad: (code, args) => client.functionLoad(code, args) }, createSilentLogger(), {
    ...limits,
    channel: CHANNEL,
    keyPrefix: 'lu:log:',
    maxChangeSize: 1_000_000,
  });
  expect(await log.reload()).toBe(true);
  return { log, published, redis, client };
}

const subjects = [
  ['in memory', memorySubject],
  ['in Redis', redisSubject],
] as const;

describe.each(subjects)('the change log %s', (_, make) => {
  it('gives a new subscription its position, then replays what a client missed, in order', async () => {
    const { log, published } = await make({ maxLength: 100, maxAgeMs: 60_000 });
    const start = await log.since('books', undefined, undefined);
    expect(start).toMatchObject({ status: 'new', position: { offset: 0 } });
    const at: LogPosition = start.position as LogPosition;
    for (const id of [1, 2, 3]) await log.publish(change(id), 'books', undefined);
    const reply = await log.since('books', undefined, at);
    expect(reply.status).toBe('ok');
    expect(ids(reply)).toEqual([1, 2, 3]);
    expect(reply.position).toEqual({ epoch: at.epoch, offset: 3 });
    expect(ids(await log.since('books', undefined, { epoch: at.epoch, offset: 2 }))).toEqual([3]);
    expect(await log.since('books', undefined, { epoch: at.epoch, offset: 3 })).toEqual({ status: 'ok', position: { epoch: at.epoch, offset: 3 }, messages: [] });
    // Published once each, with the position added, exactly as replayed.
    await until(() => published.length === 3);
    expect(published).toEqual((reply as { messages: string[] }).messages);
    expect(published.map((message) => JSON.parse(message) as unknown)).toEqual([1, 2, 3].map((id) => ({ resource: 'books', action: 'update', id, offset: id, epoch: at.epoch })));
  });

  it('keeps one log per resource and scope', async () => {
    const { log } = await make({ maxLength: 100, maxAgeMs: 60_000 });
    const scoped = await log.publish(JSON.stringify({ resource: 'orders', action: 'create', id: 1, scope: 'user:1' }), 'orders', 'user:1');
    const other = await log.publish(JSON.stringify({ resource: 'orders', action: 'create', id: 2, scope: 'user:2' }), 'orders', 'user:2');
    const unscoped = await log.publish(JSON.stringify({ resource: 'orders:user:1', action: 'create', id: 3 }), 'orders:user:1', undefined);
    expect([scoped.offset, other.offset, unscoped.offset]).toEqual([1, 1, 1]);
    expect(ids(await log.since('orders', 'user:1', { ...scoped, offset: 0 }))).toEqual([1]);
  });

  it('refuses a replay the log cannot cover: trimmed, another epoch, an offset it never gave', async () => {
    const { log } = await make({ maxLength: 3, maxAgeMs: 60_000 });
    const position = (await log.since('books', undefined, undefined)).position as LogPosition;
    for (const id of [1, 2, 3, 4, 5, 6]) await log.publish(change(id), 'books', undefined);
    expect(await log.since('books', undefined, { ...position, offset: 1 })).toMatchObject({ status: 'refetch', reason: 'trimmed', position: { offset: 6 } });
    expect(ids(await log.since('books', undefined, { ...position, offset: 3 }))).toEqual([4, 5, 6]);
    expect(await log.since('books', undefined, { epoch: 'another', offset: 3 })).toMatchObject({ status: 'refetch', reason: 'epoch' });
    expect(await log.since('books', undefined, { ...position, offset: 7 })).toMatchObject({ status: 'refetch', reason: 'epoch' });
  });

  it('refuses a replay across a change published without the log, not one after it', async () => {
    const { log } = await make({ maxLength: 100, maxAgeMs: 60_000 });
    const first = await log.publish(change(1), 'books', undefined);
    log.unlogged('books', undefined); // a plain PUBLISH went by
    const refused = await log.since('books', undefined, first);
    expect(refused).toMatchObject({ status: 'refetch', reason: 'unlogged' });
    // The client refetched: from the position it was given then, nothing is missing.
    expect(await log.since('books', undefined, refused.position as LogPosition)).toMatchObject({ status: 'ok', messages: [] });
    const second = await log.publish(change(2), 'books', undefined);
    expect(await log.since('books', undefined, second)).toMatchObject({ status: 'ok', messages: [] });
  });

  it('adds its offset last, so that a key of the same name in the change cannot pass for it', async () => {
    const { log, published } = await make({ maxLength: 100, maxAgeMs: 60_000 });
    await log.publish(change(1, { offset: 99, epoch: 'forged' }), 'books', undefined);
    await until(() => published.length === 1);
    expect(JSON.parse(published[0] as string)).toMatchObject({ offset: 1, epoch: expect.not.stringMatching('forged') });
  });
});

describe('the change log in memory', () => {
  it('drops changes older than maxAgeMs', async () => {
    let now = 1_000_000;
    const { log } = await memorySubject({ maxLength: 100, maxAgeMs: 10_000 }, () => now);
    const first = await log.publish(change(1), 'books', undefined);
    now += 6000;
    await log.publish(change(2), 'books', undefined);
    now += 6000; // change 1 is 12 s old, change 2 is 6 s old
    expect(await log.since('books', undefined, { ...first, offset: 0 })).toMatchObject({ status: 'refetch', reason: 'trimmed' });
    expect(ids(await log.since('books', undefined, first))).toEqual([2]);
  });
});

describe('the change log in Redis', () => {
  it('starts a new epoch when Redis lost the log (FLUSHALL), so old positions refetch', async () => {
    const { log, client } = await redisSubject({ maxLength: 100, maxAgeMs: 60_000 });
    const before = await log.publish(change(1), 'books', undefined);
    await client.flushAll();
    const reply = await log.since('books', undefined, before);
    expect(reply).toMatchObject({ status: 'refetch', reason: 'epoch', position: { offset: 0 } });
    expect(reply.position?.epoch).not.toBe(before.epoch);
  });

  it('is one command for any backend: FCALL lu_publish 0 <json>, validated, and reloaded when Redis lost the functions', async () => {
    const { published, client } = await redisSubject({ maxLength: 100, maxAgeMs: 60_000 });
    // As a Ruby or Python backend sends it: a string, `scope` null for "unscoped".
    expect(await client.sendCommand(['FCALL', 'lu_publish', '0', '{"resource":"books","action":"create","id":7,"scope":null,"obj":{"title":"Dune"}}'])).toEqual([expect.any(String), 1]);
    const refusals = ['not json', '[1]', '{"resource":"","action":"create","id":1}', '{"resource":"books","action":"explode","id":1}', '{"resource":"books","action":"create","id":1.5}', '{"resource":"books","action":"create","id":1,"scope":""}', '{"resource":"books","action":"create"}'];
    for (const bad of refusals) await expect(client.sendCommand(['FCALL', 'lu_publish', '0', bad])).rejects.toThrow(/live-updates: /);
    // A second argument (a shell that split the JSON, a client that appends options) is refused, not dropped.
    await expect(client.sendCommand(['FCALL', 'lu_publish', '0', '{"resource":"books","action":"create","id":8}', 'extra'])).rejects.toThrow(/expected one argument/);
    await until(() => published.length === 1);
    expect(JSON.parse(published[0] as string)).toMatchObject({ resource: 'books', id: 7, scope: null, obj: { title: 'Dune' }, offset: 1 });
    expect(await client.pTTL('lu:log:s:5:books')).toBeGreaterThan(59_000); // idle logs expire after maxAgeMs
  });

  it('loads its functions again when Redis lost them (a restart without persistence)', async () => {
    const { log, client } = await redisSubject({ maxLength: 100, maxAgeMs: 60_000 });
    await client.sendCommand(['FUNCTION', 'FLUSH']);
    expect(await log.publish(change(1), 'books', undefined)).toMatchObject({ offset: 1 });
  });
});
