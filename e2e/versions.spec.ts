// Version notices v2 in Chromium (issue 12): a rolling deploy between two servers that announce
// different builds, a page whose socket is blocked learning of a deploy from /version.json, and
// the deploy CLI (version set / rollback / show) against a real redis-server and a bridge process.
import { test, expect, type Page } from '@playwright/test';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { runCli, startBridgeProcess, type NodeProcess } from './fixtures/bridge-processes';
import { startSwitchProxy, type SwitchProxy } from './fixtures/switch-proxy';
import { startAnnouncingServer, startVersionsApp, type VersionsPage } from './fixtures/versions-app';

const redis = useRedisPerFile();
const teardown: Array<() => Promise<unknown>> = [];
test.afterEach(async () => {
  for (const fn of teardown.splice(0).reverse()) await fn();
});

type Built = string | { version: string; build: number } | null;

/** Opens the versions page as a page of `appUrl` built with `built`, talking to `socket`. */
async function openPage(page: Page, appUrl: string, name: string, built: Built, extra: Record<string, string> = {}): Promise<Page> {
  const query = new URLSearchParams({ page: name, ...extra, ...(built === null ? {} : { built: JSON.stringify(built) }) });
  await page.goto(`${appUrl}/?${query}`);
  return page;
}

const notices = (page: Page) => page.evaluate(() => (window as unknown as VersionsPage).notices.map(({ t: _t, ...notice }) => notice));
const errors = (page: Page) => page.evaluate(() => (window as unknown as VersionsPage).errors);
const available = (page: Page) => page.evaluate(() => (window as unknown as VersionsPage).live.availableVersion);

test('a rolling deploy between two servers announcing A and B: B-built pages never prompt, A-built pages once, pages built with none as their first server says', async ({ browser }) => {
  const A = { version: 'A', build: 41 };
  const B = { version: 'B', build: 42 };
  const app = await startVersionsApp(A);
  const serverA = await startAnnouncingServer(A);
  const serverB = await startAnnouncingServer(B);
  const balancer: SwitchProxy = await startSwitchProxy(serverA.port);
  const context = await browser.newContext();
  teardown.push(app.close, serverA.close, serverB.close, balancer.close, () => context.close());
  const socket = { socket: balancer.url };
  const connectedTo = (server: typeof serverA, names: string[], since: Record<string, number>) =>
    names.every((name) => server.connections.filter((page) => page === name).length > (since[name] ?? 0));
  const countOn = (server: typeof serverA) => Object.fromEntries(['builtA', 'builtB', 'noneFirstA', 'noneFirstB'].map((name) => [name, server.connections.filter((page) => page === name).length]));

  // Pages loaded while the balancer sends everyone to A (the old build), then to B (the new one).
  const pages: Record<string, Page> = {};
  pages.builtA = await openPage(await context.newPage(), app.url, 'builtA', A, socket);
  pages.noneFirstA = await openPage(await context.newPage(), app.url, 'noneFirstA', null, socket);
  await expect.poll(() => connectedTo(serverA, ['builtA', 'noneFirstA'], {})).toBe(true);
  balancer.point(serverB.port);
  pages.builtB = await openPage(await context.newPage(), app.url, 'builtB', B, socket);
  pages.noneFirstB = await openPage(await context.newPage(), app.url, 'noneFirstB', null, socket);
  await expect.poll(() => connectedTo(serverB, ['builtB', 'noneFirstB'], {})).toBe(true);

  // The rolling deploy: every link moves back and forth between the two servers, three times.
  // Each move waits until every page is connected on its side too: a link dropped while the
  // server's CONNECT answer is still on its way would be a failed connection, not a move.
  const names = Object.keys(pages);
  const allConnected = () => Promise.all(Object.values(pages).map((page) => page.evaluate(() => (window as unknown as VersionsPage).live.state)));
  for (let round = 0; round < 3; round++) {
    for (const target of [serverA, serverB]) {
      await expect.poll(allConnected).toEqual(names.map(() => 'connected'));
      const before = countOn(target);
      balancer.point(target.port);
      balancer.drop();
      await expect.poll(() => connectedTo(target, names, before)).toBe(true);
    }
  }
  await expect.poll(allConnected).toEqual(names.map(() => 'connected'));
  for (const name of names) {
    expect(serverA.connections.filter((page) => page === name).length).toBeGreaterThanOrEqual(3);
    expect(serverB.connections.filter((page) => page === name).length).toBeGreaterThanOrEqual(3);
  }
  // The last announcement each page heard was B's: everything it will be told has been.
  const offerOfB = { current: 'A', latest: 'B', required: false, build: 42 };
  expect(await notices(pages.builtA!)).toEqual([offerOfB]);
  expect(await notices(pages.noneFirstA!)).toEqual([offerOfB]);
  expect(await notices(pages.builtB!)).toEqual([]);
  expect(await notices(pages.noneFirstB!)).toEqual([]);
  expect(await available(pages.builtA!)).toEqual({ version: 'B', build: 42, required: false });
  expect(await available(pages.builtB!)).toBeNull();
  // Links dropped right after connecting count as kicks (held back, not errors of the rule).
  for (const page of Object.values(pages)) expect((await errors(page)).filter((error) => !error.startsWith('kicked'))).toEqual([]);
});

test('a page whose socket is blocked learns of a deploy through versionUrl within one poll interval: conditional requests, a 304 costs no notice, no polling once connected', async ({ page }) => {
  const POLL_MS = 5000;
  const app = await startVersionsApp({ version: 'v1', build: 1 });
  const server = await startAnnouncingServer({ version: 'v1', build: 1 });
  teardown.push(app.close, server.close);
  // Between the page and the socket.io server, a balancer with no healthy backend: every
  // connection, WebSocket or long-polling, is closed as soon as it is accepted.
  const balancer = await startSwitchProxy(server.port);
  teardown.push(balancer.close);
  balancer.point(null);
  const socketUrl = balancer.url;
  // The page's clock moves only when the test says: one poll interval is exactly one interval.
  await page.clock.install();
  await openPage(page, app.url, 'blocked', { version: 'v1', build: 1 }, { socket: socketUrl, versionUrl: '/version.json', poll: String(POLL_MS) });
  await page.clock.pauseAt(Date.now() + 1000);
  const interval = async (expected: number) => {
    await page.clock.runFor(POLL_MS);
    await expect.poll(() => app.requests.length).toBe(expected);
  };

  await interval(1);
  await interval(2);
  await interval(3);
  expect(await notices(page)).toEqual([]);
  app.deploy({ version: 'v2', build: 2, required: true });
  await interval(4);
  await expect.poll(() => notices(page)).toEqual([{ current: 'v1', latest: 'v2', required: true, build: 2 }]);
  expect(app.requests.map(({ path, ifNoneMatch, status }) => [path, ifNoneMatch, status])).toEqual([
    ['/version.json', undefined, 200],
    ['/version.json', '"v-1"', 304],
    ['/version.json', '"v-1"', 304],
    ['/version.json', '"v-1"', 200], // the first poll after the deploy
  ]);
  const states = await page.evaluate(() => (window as unknown as VersionsPage).states);
  expect(states.some((state) => state.startsWith('connected'))).toBe(false);
  expect(balancer.refused()).toBeGreaterThan(0);

  // The proxy lets the socket through: once connected, the socket says the version, and the file is left alone.
  balancer.point(server.port);
  await expect
    .poll(async () => {
      await page.clock.runFor(500);
      return page.evaluate(() => (window as unknown as VersionsPage).live.state);
    })
    .toBe('connected');
  await expect.poll(() => server.connections.length).toBe(1);
  const asked = app.requests.length;
  for (let i = 0; i < 3; i++) await page.clock.runFor(POLL_MS);
  expect(app.requests.length).toBe(asked);
  expect((await errors(page)).filter((error) => !error.startsWith('connect-error'))).toEqual([]);
});

test('the deploy CLI against a real Redis and two pages on a bridge: set offers newer builds, --required says so, rollback withdraws the offer of pages that run the rolled-back-to build and offers nothing older', async ({ browser }) => {
  const url = redis().url;
  const version = async (...args: string[]) => {
    const run = await runCli(['version', ...args, '--redis', url]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  };
  expect(await version('set', 'v1', '--build', '1')).toMatchObject({ version: 'v1', build: 1, deploy: 1 });
  expect(await version('set', 'v2', '--build', '2')).toMatchObject({ version: 'v2', build: 2, deploy: 2 });

  const bridge: NodeProcess = await startBridgeProcess({ redisUrl: url });
  const app = await startVersionsApp({ version: 'v2', build: 2 });
  const context = await browser.newContext();
  teardown.push(() => bridge.stop(), app.close, () => context.close());
  const socket = { socket: bridge.url };
  // One page of the old build, one that knows only its name (as the demo renders it): it learns its build from the bridge.
  const onV1 = await openPage(await context.newPage(), app.url, 'onV1', { version: 'v1', build: 1 }, socket);
  const onV2 = await openPage(await context.newPage(), app.url, 'onV2', 'v2', socket);
  await expect.poll(() => notices(onV1)).toEqual([{ current: 'v1', latest: 'v2', required: false, build: 2 }]);
  await expect.poll(() => onV2.evaluate(() => (window as unknown as VersionsPage).live.state)).toBe('connected');

  await version('set', 'v3', '--build', '3', '--required');
  const v3 = { latest: 'v3', required: true, build: 3 };
  await expect.poll(() => notices(onV2)).toEqual([{ current: 'v2', ...v3 }]);
  await expect.poll(() => notices(onV1)).toHaveLength(2);

  expect(await version('rollback')).toMatchObject({ version: 'v2', build: 2, deploy: 4 });
  await expect.poll(() => notices(onV2)).toEqual([{ current: 'v2', ...v3 }, { current: 'v2', latest: null, required: false }]);
  await expect.poll(() => notices(onV1)).toEqual([
    { current: 'v1', latest: 'v2', required: false, build: 2 },
    { current: 'v1', ...v3 },
    { current: 'v1', latest: 'v2', required: false, build: 2 },
  ]);
  expect(await available(onV2)).toBeNull();
  expect(await version('show')).toEqual({ current: { version: 'v2', build: 2, deploy: 4 }, history: [expect.objectContaining({ version: 'v1', build: 1, deploy: 1 })] });
  // What old bridges, tutorial servers and old clients read: the plain name.
  expect(await redis().client.get('app-version')).toBe('v2');

  // Back to v1: its pages' offer is withdrawn; the v2 page is offered no downgrade.
  expect(await version('rollback')).toMatchObject({ version: 'v1', build: 1, deploy: 5 });
  await expect.poll(async () => (await notices(onV1)).at(-1)).toEqual({ current: 'v1', latest: null, required: false });
  const nothing = await runCli(['version', 'rollback', '--redis', url]);
  expect([nothing.code, nothing.stderr.trim()]).toEqual([1, 'live-updates-bridge version rollback: nothing to roll back to']);
  expect(await notices(onV2)).toHaveLength(2);
  expect(await available(onV1)).toBeNull();
  for (const page of [onV1, onV2]) expect(await errors(page)).toEqual([]);
});

test('a failed script or chunk load asks versionUrl at once, with the socket connected: a script that is gone, an unhandled dynamic import that failed', async ({ page }) => {
  const app = await startVersionsApp({ version: 'v1', build: 1 });
  // A process of the old build still serves the socket: it says v1.
  const server = await startAnnouncingServer({ version: 'v1', build: 1 });
  teardown.push(app.close, server.close);
  await page.clock.install();
  await openPage(page, app.url, 'chunks', { version: 'v1', build: 1 }, { socket: `http://127.0.0.1:${server.port}`, versionUrl: '/version.json', poll: '60000' });
  await expect.poll(() => page.evaluate(() => (window as unknown as VersionsPage).live.state)).toBe('connected');
  expect(app.requests).toEqual([]);

  // The new build is out and the old build's assets are gone.
  app.deploy({ version: 'v2', build: 2 });
  await page.evaluate(() => document.head.append(Object.assign(document.createElement('script'), { src: '/assets/index-3f9c2ab.js' })));
  await expect.poll(() => notices(page)).toEqual([{ current: 'v1', latest: 'v2', required: false, build: 2 }]);
  app.deploy({ version: 'v3', build: 3 });
  await page.clock.runFor(5000); // failed loads ask at most once per 5 s
  // Nobody handles the rejection, as with a route's lazy chunk (a string: the test's own compiler must not resolve it).
  await page.evaluate((chunk) => void import(chunk), '/assets/page-8d1e4f0.js');
  await expect.poll(async () => (await notices(page)).map((notice) => notice.latest)).toEqual(['v2', 'v3']);
  expect(app.requests.map((request) => request.status)).toEqual([200, 200]);
});
