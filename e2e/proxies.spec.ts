// Chromium through the README's load balancer snippets: two bridge processes (`live-updates-bridge`)
// on one redis-server behind Debian's nginx and HAProxy, a page on the app's origin talking to
// the proxy's. A page forced onto long-polling and a page with socket.io's default transports
// (long-polling, then the upgrade) stay connected and show every change; each session's requests
// all reach one process. And why the README tells HAProxy users about withCredentials: the page
// is on another origin than the proxy, and without credentials its polling requests carry no
// SERVERID cookie.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { startBridgeProcess, type NodeProcess } from './fixtures/bridge-processes';
import { startBooksApp, RECORDING_PAGE, type BooksApp } from './fixtures/bridge-app';
import { startProxy, type ProxiedRequest, type ProxyKind, type StartedProxy } from './fixtures/proxies';

const redis = useRedisPerFile();
let processes: NodeProcess[] = [];
let app: BooksApp | undefined;
let front: StartedProxy | undefined;

test.afterEach(async () => {
  await front?.stop();
  await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
  await app?.close();
  processes = [];
  app = undefined;
  front = undefined;
});

/** Two bridge processes on the file's redis-server, both listening before anything is published. */
async function twoBridges(): Promise<NodeProcess[]> {
  processes = [await startBridgeProcess({ redisUrl: redis().url }), await startBridgeProcess({ redisUrl: redis().url })];
  await expect
    .poll(async () => Number(((await redis().client.sendCommand(['PUBSUB', 'NUMSUB', 'rt-change'])) as [string, number])[1]))
    .toBe(2);
  return processes;
}

/** A page of its own browser context (its own cookies), on the app's origin, through the proxy. */
async function openPage(browser: Browser, socketOptions: object): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app!.url}/?bridge=${encodeURIComponent(front!.url)}&socket=${encodeURIComponent(JSON.stringify(socketOptions))}`);
  return page;
}

const titles = (page: Page): Promise<string[]> => page.locator('#books li').allTextContents();
const states = (page: Page): Promise<string[]> => page.evaluate(() => window.record.states);

/** Each engine.io session's requests, keyed by its sid, once the pages are closed (logged at their end). */
async function sessionsAfterClosing(pages: Page[], webSockets: number): Promise<Map<string, ProxiedRequest[]>> {
  await Promise.all(pages.map((page) => page.context().close()));
  await expect.poll(() => front!.requests().filter((request) => request.status === 101).length).toBeGreaterThanOrEqual(webSockets);
  const sessions = new Map<string, ProxiedRequest[]>();
  for (const request of front!.requests()) if (request.sid) sessions.set(request.sid, [...(sessions.get(request.sid) ?? []), request]);
  return sessions;
}

for (const kind of ['nginx', 'haproxy'] as ProxyKind[]) {
  test(`behind ${kind} as the README configures it, a long-polling page and an upgrading page stay connected and show every change`, async ({ browser }) => {
    const bridges = await twoBridges();
    front = await startProxy(kind, { bridgePorts: bridges.map((bridge) => bridge.port), sticky: true });
    app = await startBooksApp({ redisUrl: redis().url, html: RECORDING_PAGE });
    // The page is on another origin than the proxy: HAProxy's cookie needs credentials (README).
    const credentials = kind === 'haproxy' ? { withCredentials: true } : {};
    const polling = await openPage(browser, { transports: ['polling'], ...credentials });
    const upgrading = await openPage(browser, credentials);
    const pages = [polling, upgrading];
    for (const page of pages) await page.waitForFunction(() => window.record.states.includes('connected:connected'));
    for (const page of pages) await expect.poll(() => titles(page)).toEqual(['Dune', 'Emma']);

    // One create at a time, each shown before the next: a long poll returns for each.
    for (let i = 1; i <= 10; i++) {
      await app.create(`Book ${i}`);
      const expected = app.list().map((book) => book.title);
      for (const page of pages) await expect.poll(() => titles(page)).toEqual(expected);
    }
    for (const page of pages) {
      expect(await states(page)).toEqual(['connected:connected']);
      expect(await page.evaluate(() => window.record.errors)).toEqual([]);
    }

    // Closing a page aborts its pending long poll (nginx logs 499): errors are counted before.
    const before = front.requests();
    expect(before.filter((request) => request.status !== 200 && request.status !== 101)).toEqual([]);
    const sessions = await sessionsAfterClosing(pages, 1);
    const all = front.requests();
    expect([...sessions.values()].map((list) => new Set(list.map((request) => request.server)).size)).toEqual([1, 1]);
    const upgraded = [...sessions.values()].filter((list) => list.some((request) => request.status === 101));
    expect(upgraded).toHaveLength(1);
    const pollingSession = [...sessions.values()].find((list) => !upgraded.includes(list))!;
    console.log(
      `${kind}, sticky, Chromium: 2 pages (long-polling: ${pollingSession.length} requests, all to ${pollingSession[0]!.server}; ` +
        `upgraded to WebSocket on ${upgraded[0]![0]!.server}), one connection each, 10/10 creates shown, ${all.length} requests, 0 errors`,
    );
  });
}

test('behind HAProxy, a page on another origin that polls without credentials loses its SERVERID cookie and every session', async ({ browser }) => {
  const bridges = await twoBridges();
  front = await startProxy('haproxy', { bridgePorts: bridges.map((bridge) => bridge.port), sticky: true });
  app = await startBooksApp({ redisUrl: redis().url, html: RECORDING_PAGE });
  const page = await openPage(browser, { transports: ['polling'], reconnectionDelay: 100, reconnectionDelayMax: 500 });
  // Round robin decides every request, as if there were no cookie: the session's next request
  // reaches the other process half the time and is refused.
  await expect.poll(async () => (await states(page)).filter((state) => !state.startsWith('connected')).length).toBeGreaterThanOrEqual(5);
  await page.context().close();
  const refused = front.requests().filter((request) => request.status === 400);
  expect(refused.length).toBeGreaterThan(0);
  console.log(`haproxy, sticky, Chromium page on another origin without withCredentials: ${refused.length} of ${front.requests().length} requests 400 Session ID unknown within 5 failed attempts`);
});
