// The bridge as operators run it — `live-updates-bridge --port … --redis …` processes on a real
// redis-server — with Chromium pages and Node live-updates clients: restarts, garbage on the
// Redis channels, several processes on one Redis, and backends that emit with
// @socket.io/redis-emitter.
import { test, expect, type Page } from '@playwright/test';
import { Emitter } from '@socket.io/redis-emitter';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { startBridgeProcess, startDemoProcess, health, type NodeProcess } from './fixtures/bridge-processes';
import { startBooksApp, RECORDING_PAGE, type BooksApp, type BridgePageRecord } from './fixtures/bridge-app';
import { recordingClient, deliveryCounts, type RecordingClient } from './fixtures/bridge-clients';

const redis = useRedisPerFile();
let processes: NodeProcess[] = [];
let apps: BooksApp[] = [];
let clients: RecordingClient[] = [];

test.afterEach(async () => {
  clients.forEach((client) => client.close());
  await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
  await Promise.all(apps.map((app) => app.close()));
  clients = [];
  processes = [];
  apps = [];
});

async function bridgeProcess(port?: number): Promise<NodeProcess> {
  const proc = await startBridgeProcess({ redisUrl: redis().url, port });
  processes.push(proc);
  return proc;
}

async function booksApp(): Promise<BooksApp> {
  const app = await startBooksApp({ redisUrl: redis().url, html: RECORDING_PAGE });
  apps.push(app);
  return app;
}

async function client(name: string, url: string): Promise<RecordingClient> {
  const made = await recordingClient(name, url);
  clients.push(made);
  return made;
}

/** Waits until `count` connections listen on `channel` (the bridges' SUBSCRIBEs are live). */
async function subscribers(channel: string, count: number): Promise<void> {
  await expect
    .poll(async () => {
      const reply = (await redis().client.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number];
      return Number(reply[1]);
    })
    .toBeGreaterThanOrEqual(count);
}

/**
 * Waits until `count` connections hold a pattern subscription (each bridge's socket.io Redis
 * adapter has one; PUBSUB NUMPAT would count distinct patterns, not subscribers).
 */
async function adapters(count: number): Promise<void> {
  await expect
    .poll(async () => {
      const list = String(await redis().client.sendCommand(['CLIENT', 'LIST']));
      return list.split('\n').filter((line) => /\bpsub=[1-9]/.test(line)).length;
    })
    .toBeGreaterThanOrEqual(count);
}

const titles = (page: Page): Promise<string[]> => page.locator('#books li').allTextContents();
const record = (page: Page): Promise<BridgePageRecord> => page.evaluate(() => window.record);
const change = (id: string | number, title = String(id)) => JSON.stringify({ resource: 'books', action: 'create', id, obj: { id, title } });

test('a bridge restart (SIGTERM, same port) refetches: a change made while it was down shows after it returns', async ({ page }) => {
  const app = await booksApp();
  const bridge = await bridgeProcess();
  await subscribers('rt-change', 1);
  await page.goto(`${app.url}/?bridge=${encodeURIComponent(bridge.url)}`);
  await page.waitForFunction(() => window.record.states.includes('connected:connected'));
  await expect.poll(() => titles(page)).toEqual(['Dune', 'Emma']);
  await app.create('Live before the restart');
  await expect.poll(() => titles(page)).toEqual(['Dune', 'Emma', 'Live before the restart']);

  expect(await bridge.stop('SIGTERM')).toBe(0);
  await page.waitForFunction(() => window.record.states.at(-1)?.startsWith('reconnecting'));
  const renamed = await app.rename(1, 'Dune (renamed while down)');
  const created = await app.create('Created while down');
  await app.destroy(2);

  const again = await bridgeProcess(bridge.port);
  expect(again.port).toBe(bridge.port);
  const expected = app.list().map((book) => book.title);
  await expect.poll(() => titles(page)).toEqual(expected);

  const { refetches, states, changes, errors } = await record(page);
  expect(refetches).toEqual(['server-disconnect']);
  expect(states).toContain('reconnecting:server-disconnect');
  expect(states.at(-1)).toBe('connected:reconnected');
  // Nothing published while the bridge was down was delivered: the refetch alone brought it.
  expect(changes.map((c) => c.id)).not.toContain(created.id);
  expect(changes.filter((c) => c.id === renamed.id)).toEqual([]);
  expect(errors.filter((e) => !e.startsWith('connect-error'))).toEqual([]);

  // And the new process delivers live again.
  await app.create('Live after the restart');
  await expect.poll(() => titles(page)).toEqual([...expected, 'Live after the restart']);
});

test('garbage on the Redis channels and from emitters breaks nothing; a valid change after it arrives', async ({ page }) => {
  test.setTimeout(90_000);
  const demo = await startDemoProcess({ redisUrl: redis().url });
  processes.push(demo);
  const bridge = await bridgeProcess();
  await subscribers('rt-change', 2);
  await adapters(2);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(demo.url);
  await expect(page.locator('#badge')).toHaveText('live');
  const node = await client('node', bridge.url);
  await node.connected();

  const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
  const garbage = [
    '',
    'not json',
    '{',
    'null',
    'true',
    '42',
    '"books"',
    '[]',
    '[{"resource":"books","action":"create","id":1}]',
    '{}',
    '{"resource":"books"}',
    '{"resource":"books","action":"explode","id":1}',
    '{"resource":"books","action":"create"}',
    '{"resource":"books","action":"create","id":{}}',
    '{"resource":"books","action":"create","id":""}',
    '{"resource":"books","action":"create","id":null}',
    '{"resource":"","action":"create","id":1}',
    '{"resource":7,"action":"create","id":1}',
    '{"resource":"books","action":"create","id":1e999}',
    '{"__proto__":{"polluted":true},"resource":"__proto__","action":"create","id":1}',
    '{"resource":"constructor","action":"update","id":"prototype","obj":{"__proto__":{"polluted":true}}}',
    '{"resource":"hasOwnProperty","action":"destroy","id":1}',
    `{"resource":"books","action":"create","id":"deep","obj":${deep(100_000)}}`,
    deep(100_000),
    'x'.repeat(5_000_000),
    JSON.stringify({ resource: 'r'.repeat(1_000_000), action: 'create', id: 1 }),
    '\u0000\uffff\ud800',
  ];
  for (const message of garbage) await redis().publish('rt-change', message);
  for (const message of ['', '   ', '{', 'x'.repeat(5_000_000), '"', '""', '"\\u0000"']) await redis().publish('app-version', message);

  // Emitters bypass the bridge's validation and reach the pages directly: the client's turn.
  const emitter = new Emitter(redis().client);
  const emitted: unknown[] = [
    null,
    42,
    'not json',
    '{"resource":"books"',
    [],
    { resource: 'books' },
    { resource: 'books', action: 'create', id: { nested: true } },
    JSON.parse('{"__proto__":{"polluted":true},"resource":"__proto__","action":"create","id":2}'),
    { resource: 'books', action: 'update', id: 'huge', huge: 'y'.repeat(1_000_000) },
  ];
  for (const payload of emitted) emitter.emit('rt-change', payload);
  for (const payload of [null, {}, { version: {} }, ['v'], 'z'.repeat(1_000_000)]) emitter.emit('app-version', payload);
  emitter.emit('lu:resync', 'not an object');
  emitter.emit('lu:hello', { nonsense: true });

  const valid = { resource: 'books', action: 'create', id: 999, obj: { id: 999, title: 'After the garbage', author: 'A. Tester' } };
  await redis().publish('rt-change', JSON.stringify(valid));
  // The handler got it (the feed logs every change handled). It is not in the app's own data, so
  // a refetch (the garbage included an lu:resync and a change without a record) drops it again.
  await expect(page.locator('#feed')).toContainText('create books#999 {"id":999,"title":"After the garbage"');
  await node.received(999);

  expect(demo.alive()).toBe(true);
  expect(bridge.alive()).toBe(true);
  expect(await health(demo.url)).toMatchObject({ ok: true, redis: 'up' });
  expect(await health(bridge.url)).toMatchObject({ ok: true, redis: 'up' });
  expect(pageErrors).toEqual([]);
  expect(await page.evaluate(() => ({}) as Record<string, unknown>)).toEqual({});
  expect(await page.evaluate(() => (Object.prototype as Record<string, unknown>).polluted)).toBeUndefined();
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(bridge.output()).toContain('dropped bad message');
  const tally = (proc: NodeProcess) => {
    const lines = proc.output().split('\n');
    return `${lines.filter((line) => line.includes('dropped bad')).length} dropped, ${lines.filter((line) => line.includes('threw')).length} listener errors`;
  };
  console.log(`garbage: bridge process ${tally(bridge)}; demo ${tally(demo)}`);
  expect(bridge.output()).not.toMatch(/uncaught|unhandled/i);
  // The node client was handed nothing malformed: every change it got has the change shape.
  for (const got of node.changes) expect(['create', 'update', 'destroy']).toContain(got.action);
  expect(node.changes.filter((got) => got.resource === 'books' && got.id === 999)).toHaveLength(1);
});

test('two bridge processes on one Redis deliver each change exactly once to clients of both', async ({ browser }) => {
  const a = await bridgeProcess();
  const b = await bridgeProcess();
  await subscribers('rt-change', 2);
  const nodes = await Promise.all([client('a1', a.url), client('a2', a.url), client('b1', b.url), client('b2', b.url)]);
  await Promise.all(nodes.map((n) => n.connected()));
  // One Chromium page per process too.
  const app = await booksApp();
  const pages = await Promise.all([a, b].map(async (bridge) => {
    const page = await browser.newPage();
    await page.goto(`${app.url}/?bridge=${encodeURIComponent(bridge.url)}`);
    await page.waitForFunction(() => window.record.states.includes('connected:connected'));
    return page;
  }));

  const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
  for (const id of ids) await redis().publish('rt-change', change(id));
  // Everything before the sentinel has arrived once the sentinel has (one ordered link each).
  await redis().publish('rt-change', change('sentinel'));
  await Promise.all(nodes.map((n) => n.received('sentinel')));
  await Promise.all(pages.map((page) => page.waitForFunction(() => window.record.changes.some((c) => c.id === 'sentinel'))));

  const once = Object.fromEntries(ids.map((id) => [id, 1]));
  const counts = deliveryCounts(nodes, ids);
  for (const n of nodes) expect(counts[n.name], n.name).toEqual(once);
  for (const [i, page] of pages.entries()) {
    const got = (await record(page)).changes.map((c) => String(c.id));
    expect(got, `page on bridge ${i ? 'b' : 'a'}`).toEqual([...ids, 'sentinel']);
  }
  for (const n of nodes) expect(n.changes.map((c) => c.id)).toEqual([...ids, 'sentinel']);
  console.log(`two processes: ${ids.length} changes × ${nodes.length} node clients + ${pages.length} pages, each delivered exactly once`);
  await Promise.all(pages.map((page) => page.close()));
});

test('an @socket.io/redis-emitter emit (default key) reaches clients of both bridge processes once', async () => {
  const a = await bridgeProcess();
  const b = await bridgeProcess();
  await subscribers('rt-change', 2);
  await adapters(2);
  const nodes = await Promise.all([client('a', a.url), client('b', b.url)]);
  await Promise.all(nodes.map((n) => n.connected()));

  const emitter = new Emitter(redis().client); // key 'socket.io', the bridge's default adapterKey
  emitter.emit('rt-change', { resource: 'books', action: 'update', id: 'from-emitter', obj: { id: 'from-emitter', title: 'Emitted' } });
  emitter.emit('rt-change', change('from-emitter-as-json-string')); // how Ruby/PHP emitters send it
  await Promise.all(nodes.map((n) => n.received('from-emitter-as-json-string')));
  // The sentinel takes the other road (the change channel), so it is published after the emits
  // have been delivered: then nothing more from the emitter can be on its way.
  await redis().publish('rt-change', change('sentinel'));
  await Promise.all(nodes.map((n) => n.received('sentinel')));

  const counts = deliveryCounts(nodes, ['from-emitter', 'from-emitter-as-json-string']);
  expect(counts).toEqual({
    a: { 'from-emitter': 1, 'from-emitter-as-json-string': 1 },
    b: { 'from-emitter': 1, 'from-emitter-as-json-string': 1 },
  });
  expect(nodes[0]!.changes.find((c) => c.id === 'from-emitter')).toMatchObject({ action: 'update', obj: { title: 'Emitted' } });
  for (const n of nodes) expect(n.errors).toEqual([]);
});
