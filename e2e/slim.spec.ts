// The slim script tag (issue 11, item 9): dist/live-updates.slim.global.js on the page's own
// socket.io client. The README's slim example, served as printed by a plain socket.io v4 server
// that serves its client at /socket.io/socket.io.js (the catch-up tests' books app, written the
// tutorial way), in Debian's Chromium, with changes committed and PUBLISHed to a real redis-server.
import { test, expect, type Page } from '@playwright/test';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { startBooksApp, type BooksApp } from './fixtures/books-app';
import { readmeBlock } from './fixtures/readme';
import { readRecord, recordReadmePage } from './fixtures/readme-page';
import { useRedisPerFile } from './fixtures/redis-per-file';

/** The page under test: the README's slim example, as printed. */
const PAGE = readmeBlock('slim-script-tag').code;

/** What the init script learns of the page's global `io` (socket.io.js's). */
interface PageIo {
  /** Namespaces asked of a Manager of the page's `io` (`Manager.prototype.socket`), in order. */
  sockets: string[];
}
type PageIoWindow = Window & { pageIo: PageIo };

const redis = useRedisPerFile();
let apps: BooksApp[] = [];
let proxies: BlackholeProxy[] = [];
let pageErrors: string[] = [];

test.beforeEach(async ({ page }) => {
  pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await recordReadmePage(page);
  // When socket.io.js defines the global `io`, note every namespace socket a Manager of *that*
  // client opens: the slim tag bundles no client of its own, so its sockets must show up here.
  await page.addInitScript(() => {
    const pageIo: PageIo = { sockets: [] };
    (window as unknown as PageIoWindow).pageIo = pageIo;
    Object.defineProperty(window, 'io', {
      configurable: true,
      set(io: { Manager: { prototype: { socket(nsp: string, opts?: unknown): unknown } } }) {
        const socket = io.Manager.prototype.socket;
        io.Manager.prototype.socket = function (this: unknown, nsp: string, opts?: unknown) {
          pageIo.sockets.push(nsp);
          return socket.call(this, nsp, opts);
        };
        Object.defineProperty(window, 'io', { configurable: true, writable: true, value: io });
      },
    });
  });
});

test.afterEach(async ({ page }) => {
  await page.close();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(apps.map((app) => app.close()));
  apps = [];
  proxies = [];
});

async function serve(html = PAGE): Promise<BooksApp> {
  const app = await startBooksApp({ redisUrl: redis().url, html });
  apps.push(app);
  return app;
}

/** The titles the page shows, in its order (the example's Map: loaded by id, creates appended). */
const shown = (page: Page): Promise<string[]> => page.locator('#books li').allTextContents();
const titles = (app: BooksApp): string[] => app.books().map((book) => book.title);

test('the README slim example, served as printed after socket.io’s own /socket.io/socket.io.js: lists the books, shows 20 changes in order, runs on the page’s io', async ({ page }) => {
  const app = await serve();
  const paths: string[] = [];
  page.on('request', (request) => paths.push(new URL(request.url()).pathname));
  await page.goto(app.url);
  await expect(page.locator('#state')).toHaveText('live');
  await expect.poll(() => shown(page)).toEqual(titles(app));

  for (let i = 1; i <= 16; i++) await app.commit({ action: 'create', title: `Book ${i}` });
  await app.commit({ action: 'update', id: 1, title: 'Dune, renamed' });
  await app.commit({ action: 'update', id: 1, title: 'Dune, renamed again' });
  await app.commit({ action: 'destroy', id: 2 });
  await app.commit({ action: 'update', id: 4, title: 'Book 1, renamed' });
  // Creates are appended as they arrive: the list in the server's order means they came in order.
  await expect.poll(() => shown(page)).toEqual(titles(app));
  expect(titles(app)).toContain('Dune, renamed again');

  expect(paths).toContain('/socket.io/socket.io.js');
  expect(paths).toContain('/live-updates.slim.global.js');
  expect(paths).not.toContain('/live-updates.global.js');
  expect(await page.evaluate(() => (window as unknown as PageIoWindow).pageIo.sockets)).toEqual(['/']);
  expect((await readRecord(page)).fetches.map((f) => f.outcome)).toContain('200');
  expect(pageErrors).toEqual([]);
});

test('without socket.io.js first, the slim tag throws a clear error and defines nothing', async ({ page }) => {
  const app = await serve(PAGE.replace('<script src="/socket.io/socket.io.js"></script>\n', ''));
  await page.goto(app.url);
  await expect.poll(() => pageErrors.find((message) => message.includes('live-updates.slim.global.js'))).toBe(
    'live-updates.slim.global.js needs the socket.io client first: <script src="/socket.io/socket.io.js"></script>',
  );
  expect(await page.evaluate(() => typeof (window as unknown as { LiveUpdates?: unknown }).LiveUpdates)).toBe('undefined');
});

test('on the page’s io, the catch-up works as with the full tag: a dead link is probed and replaced on a wake signal, an offline spell is refetched', async ({ page, context }) => {
  const app = await serve();
  const proxy = await startBlackholeProxy(app.port);
  proxies.push(proxy);
  const frames: string[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => void frames.push(String(payload))));
  await page.goto(proxy.url);
  await expect(page.locator('#state')).toHaveText('live');
  // Upgraded, so that changes come over the WebSocket, the connection about to go silent. A change
  // sent before the upgrade completes goes over long-polling: send until one comes over the WebSocket.
  await expect(async () => {
    await app.commit({ action: 'update', id: 3, title: 'Over the WebSocket' });
    await expect.poll(() => frames.some((frame) => frame.includes('Over the WebSocket')), { timeout: 1000 }).toBe(true);
  }).toPass();

  // The WebSocket goes silent (a middlebox dropped it); a change is lost on it; the tab is resumed.
  expect(proxy.blackhole({ webSocketsOnly: true })).toBe(1);
  await app.commit({ action: 'update', id: 1, title: 'Lost on the dead link' });
  await page.evaluate(() => document.dispatchEvent(new Event('resume')));
  await expect.poll(() => shown(page)).toEqual(titles(app));
  await expect(page.locator('#state')).toHaveText('live');
  const states = (await readRecord(page)).states.map((s) => s.text);
  expect(states).toContain('reconnecting (dead-link)');
  // The probe asked the page's io for its namespace, then a fresh link for '/'.
  expect(await page.evaluate(() => (window as unknown as PageIoWindow).pageIo.sockets)).toEqual(['/', '/live-updates-probe']);

  await context.setOffline(true);
  await expect(page.locator('#state')).toHaveText(/^offline/);
  await app.commit({ action: 'create', title: 'Written offline' });
  await app.commit({ action: 'destroy', id: 2 });
  await context.setOffline(false);
  await expect.poll(() => shown(page)).toEqual(titles(app));
  await expect(page.locator('#state')).toHaveText('live');
  const fetches = (await readRecord(page)).fetches.map((f) => f.outcome);
  expect(fetches.filter((outcome) => outcome === '200').length).toBeGreaterThanOrEqual(3); // first load, dead link, offline
  expect(pageErrors).toEqual([]);
});
