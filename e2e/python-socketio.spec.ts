// Any socket.io server, not only ours (issue 11, item 8): the README's script-tag example, served
// as printed by a python-socketio 5.7 server on aiohttp (e2e/fixtures/python-socketio-app.py,
// Debian's python3-socketio) that relays a real redis-server the way python-socketio's docs relay
// one, in Debian's Chromium. Changes are committed to the Python backend's data in Redis and then
// PUBLISHed. Shows: changes in order, the version banner once, a server restart and an offline
// spell caught up by refetch, and the wake probe (a CONNECT to an undefined namespace) answered
// by python-socketio, so a link that died in a sleep is replaced within a second of wake while
// aiohttp keeps the dead pooled HTTP connections 75 s.
import { test, expect, type Page } from '@playwright/test';
import type { LiveUpdates } from '../src/index';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { createRedisBooks, startPythonSocketio, type PythonSocketio } from './fixtures/python-socketio';
import { readmeBlock } from './fixtures/readme';
import { readRecord, recordReadmePage, type ReadmePageWindow } from './fixtures/readme-page';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { findRenderer, resume, suspend } from './fixtures/renderer';

/** The page under test: the README's script-tag example, as printed. */
const PAGE = readmeBlock('script-tag').code;
/** A modelled laptop sleep: well past the client's 2 s wake threshold. */
const SLEEP_MS = 4000;
/** The product requirement: after a wake on a dead link, the refetch starts within this bound. */
const WAKE_TO_REFETCH_MS = 1000;
/** Wake → the page equals the server: generous for a noisy machine, far below a GET hung on a dead pooled connection (75 s). */
const WAKE_TO_EQUAL_MS = 5000;

/** What the README page's `live` is; the page declares it with `const`, so page functions reach it by name. */
declare const live: LiveUpdates;

const redis = useRedisPerFile();
let servers: PythonSocketio[] = [];
let proxies: BlackholeProxy[] = [];
let suspended: number | null = null;
let pageErrors: string[] = [];

test.beforeEach(async ({ page }) => {
  pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await recordReadmePage(page);
});

test.afterEach(async ({ page }) => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  await page.close();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(servers.map((server) => server.stop()));
  servers = [];
  proxies = [];
  expect(pageErrors).toEqual([]);
});

async function serve(port?: number): Promise<PythonSocketio> {
  const server = await startPythonSocketio({ redisUrl: redis().url, html: PAGE, port });
  servers.push(server);
  return server;
}

async function proxyTo(server: PythonSocketio): Promise<BlackholeProxy> {
  const proxy = await startBlackholeProxy(server.port);
  proxies.push(proxy);
  return proxy;
}

/** The titles the page shows, sorted (the README's handler appends, a refetch lists by id). */
const shown = async (page: Page): Promise<string[]> => (await page.locator('#books li').allTextContents()).sort();
const sorted = (titles: string[]): string[] => [...titles].sort();

/** A second subscriber and a version listener, added once the page is live, recording into `rec`. */
async function listen(page: Page): Promise<void> {
  await page.evaluate(() => {
    const { rec } = window as unknown as ReadmePageWindow;
    live.subscribe('books', (change) => rec.handled.push(`${change.action} ${change.id}`));
    live.onNewVersion((version) => rec.versions.push(version));
  });
}

/** Opens `url`, waits until the README page says live and lists the server's books. */
async function open(page: Page, url: string, titles: string[]): Promise<void> {
  await page.goto(url);
  await expect(page.locator('#state')).toHaveText('live');
  await expect.poll(() => shown(page)).toEqual(sorted(titles));
}

function note(type: string, description: string): void {
  console.log(`${type}: ${description}`);
  test.info().annotations.push({ type, description });
}

test('changes arrive in order and the version banner shows once (python-socketio 5.7 on aiohttp, Redis relay)', async ({ page }) => {
  const books = createRedisBooks(redis());
  await books.seed(['Dune', 'Emma']);
  await redis().client.set('app-version', 'v1'); // sent on connect: the running version
  const server = await serve();
  await open(page, server.url, books.titles());
  await listen(page);

  const expected: string[] = [];
  for (let i = 1; i <= 30; i++) {
    const book =
      i % 10 === 0 ? await books.commit({ action: 'destroy', id: i / 10 + 2 }) : i % 3 === 0 ? await books.commit({ action: 'update', id: 1, title: `Dune, edition ${i}` }) : await books.commit({ action: 'create', title: `Book ${i}` });
    expected.push(`${i % 10 === 0 ? 'destroy' : i % 3 === 0 ? 'update' : 'create'} ${book.id}`);
  }
  await expect.poll(async () => (await readRecord(page)).handled.length).toBe(expected.length);
  expect((await readRecord(page)).handled).toEqual(expected);
  await expect.poll(() => shown(page)).toEqual(sorted(books.titles()));
  // The README handler appends what arrives: the creates still shown are in the order they were made.
  const creates = (await page.locator('#books li').allTextContents()).filter((title) => title.startsWith('Book '));
  expect(creates).toEqual(books.titles().filter((title) => title.startsWith('Book ')));

  await expect(page.locator('#banner')).toBeHidden();
  await books.deploy('v2');
  await expect(page.locator('#banner')).toBeVisible();
  await books.deploy('v2'); // announced again: no second notice
  await books.commit({ action: 'create', title: 'After the deploys' }); // one ordered link: once shown, the repeat was delivered
  await expect.poll(() => shown(page)).toContain('After the deploys');
  expect((await readRecord(page)).versions).toEqual([{ current: 'v1', latest: 'v2', required: false }]);
});

test('a server restart (SIGTERM, started again on the same port) is caught up by refetch; the version banner does not come back', async ({ page }) => {
  const books = createRedisBooks(redis());
  await books.seed(['Dune', 'Emma', 'Ubik']);
  await redis().client.set('app-version', 'v1');
  const first = await serve();
  await open(page, first.url, books.titles());
  await listen(page);
  await books.deploy('v2');
  await expect(page.locator('#banner')).toBeVisible();
  const fetchesBefore = (await readRecord(page)).fetches.length;

  expect(await first.stop()).toBe(0); // aiohttp's graceful exit: the clients are told to go
  await expect(page.locator('#state')).not.toHaveText('live');
  // Committed while no socket.io server runs: nobody hears these PUBLISHes.
  const created = await books.commit({ action: 'create', title: 'Written while down' });
  await books.commit({ action: 'update', id: 2, title: 'Emma, renamed while down' });
  await books.commit({ action: 'destroy', id: 3 });
  const restartedAt = Date.now();
  const second = await serve(first.port);

  // Reconnection backoff (up to reconnectionDelayMax, 5 s) plus the refetch spread (up to 5 s).
  await expect.poll(() => shown(page), { timeout: 25_000 }).toEqual(sorted(books.titles()));
  await expect(page.locator('#state')).toHaveText('live');
  note('restart → equal', `${Date.now() - restartedAt} ms after the new process listened (refetch spread: up to refetchSpreadMs, 5 s)`);
  const { states, fetches, versions } = await readRecord(page);
  expect(states.map((s) => s.text).filter((text) => text !== 'live')).toContain('reconnecting (server-disconnect)');
  expect(fetches.length).toBeGreaterThan(fetchesBefore);
  expect(second.connections()).toBe(1);
  // v2 again on the new connection: no second notice.
  expect(versions).toEqual([{ current: 'v1', latest: 'v2', required: false }]);
  // The new process relays: a change after the restart shows live.
  await books.commit({ action: 'update', id: created.id, title: 'After the restart' });
  await expect.poll(() => shown(page)).toEqual(sorted(books.titles()));
});

test('an offline spell (context.setOffline) is caught up by refetch: the page equals the server afterwards', async ({ page, context }) => {
  const books = createRedisBooks(redis());
  await books.seed(['Dune', 'Emma', 'Ubik']);
  const server = await serve();
  await open(page, server.url, books.titles());
  const fetchesBefore = (await readRecord(page)).fetches.length;

  await context.setOffline(true);
  await expect(page.locator('#state')).toHaveText(/^offline/);
  await books.commit({ action: 'create', title: 'Written offline' });
  await books.commit({ action: 'update', id: 1, title: 'Dune, renamed offline' });
  await books.commit({ action: 'destroy', id: 2 });
  await context.setOffline(false);

  await expect.poll(() => shown(page)).toEqual(sorted(books.titles()));
  await expect(page.locator('#state')).toHaveText('live');
  const { fetches } = await readRecord(page);
  expect(fetches.slice(fetchesBefore).map((f) => f.outcome)).toContain('200');
  expect(server.connections()).toBe(2);
});

test('the wake probe on a healthy link: python-socketio answers the CONNECT to /live-updates-probe with CONNECT_ERROR, and the link is kept', async ({ page }) => {
  const books = createRedisBooks(redis());
  await books.seed(['Dune']);
  const frames: string[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => void frames.push(String(payload))));
  const server = await serve();
  await open(page, server.url, books.titles());
  // Upgraded, so that the probe's answer comes over the WebSocket the test reads. A change sent
  // before the upgrade completes goes over long-polling: send until one comes over the WebSocket.
  await expect(async () => {
    await books.commit({ action: 'update', id: 1, title: 'Over the WebSocket' });
    await expect.poll(() => frames.some((frame) => frame.includes('Over the WebSocket')), { timeout: 1000 }).toBe(true);
  }).toPass();
  const before = await readRecord(page);

  // What a wake, resume or shown tab does: probe the link.
  await page.evaluate(() => document.dispatchEvent(new Event('resume')));
  await expect.poll(() => frames.filter((frame) => frame.startsWith('44/live-updates-probe,'))).toEqual(['44/live-updates-probe,"Unable to connect"']);
  // The answer came before this change on the same link: once it shows, a teardown would too.
  await books.commit({ action: 'create', title: 'After the probe' });
  await expect.poll(() => shown(page)).toContain('After the probe');
  const after = await readRecord(page);
  expect(after.states).toEqual(before.states);
  expect(after.fetches).toHaveLength(before.fetches.length);
  expect(server.connections()).toBe(1);
});

test('a link that died in a sleep (every connection silenced, aiohttp keeps the dead pooled ones 75 s): replaced and refetched within 1 s of wake, the page equals the server', async ({ page }) => {
  const books = createRedisBooks(redis());
  await books.seed(['Dune', 'Emma', 'Ubik']);
  const server = await serve();
  const proxy = await proxyTo(server); // the whole origin: page, API and socket.io
  await open(page, proxy.url, books.titles());
  // The first load measured the API's latency: later refetches get an adaptive deadline.
  await expect.poll(async () => (await readRecord(page)).fetches.some((f) => f.outcome === '200')).toBe(true);
  const pid = await findRenderer(page);

  for (let sleep = 1; sleep <= 2; sleep++) {
    const before = await readRecord(page);
    let silenced = { all: 0, webSockets: 0 };
    suspended = pid;
    suspend(pid);
    try {
      const webSockets = proxy.liveWebSockets();
      silenced = { all: proxy.blackhole(), webSockets };
      await books.commit({ action: 'update', id: sleep, title: `changed during sleep ${sleep}` });
      await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the sleep itself
    } finally {
      resume(pid);
      suspended = null;
    }

    await page
      .waitForFunction(([n, ms]) => (window as unknown as ReadmePageWindow).rec.wakes.slice(n).some((w) => w.slept >= ms), [before.wakes.length, SLEEP_MS - 500] as const, { polling: 50, timeout: 10_000 })
      .catch(() => {
        throw new Error('the page never noticed the sleep: was its renderer really suspended?');
      });
    await expect.poll(() => shown(page), { timeout: WAKE_TO_EQUAL_MS + 5000 }).toEqual(sorted(books.titles()));
    const after = await readRecord(page);
    const wake = after.wakes.slice(before.wakes.length).find((w) => w.slept >= SLEEP_MS - 500)!;
    const fetches = after.fetches.slice(before.fetches.length);
    const equalAt = fetches.filter((f) => f.outcome === '200').at(-1)?.end ?? Infinity;
    const line =
      `sleep ${sleep} (${silenced.all} connections silenced, ${silenced.webSockets} WebSocket): wake→first GET /books ${(fetches[0]?.start ?? Infinity) - wake.at} ms, ` +
      `wake→equal ${equalAt - wake.at} ms; GETs ${JSON.stringify(fetches.map((f) => `${f.outcome}@${f.start - wake.at}+${(f.end ?? NaN) - f.start}ms`))}`;
    note('python-socketio dead link', line);
    // The preconditions: the WebSocket and at least one idle keep-alive connection died in the sleep.
    expect(silenced.webSockets, line).toBe(1);
    expect(silenced.all - silenced.webSockets, `${line}: idle HTTP connections silenced`).toBeGreaterThanOrEqual(1);
    expect(after.states.slice(before.states.length).map((s) => s.text)[0], line).toBe('reconnecting (dead-link)');
    expect(fetches[0]!.start - wake.at, line).toBeLessThanOrEqual(WAKE_TO_REFETCH_MS);
    expect(equalAt - wake.at, line).toBeLessThanOrEqual(WAKE_TO_EQUAL_MS);
    await expect(page.locator('#state')).toHaveText('live');
  }
  // One new socket.io connection per sleep, through the proxy.
  expect(server.connections()).toBe(3);
});
