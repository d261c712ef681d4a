// The demo books app (`node demo/server.mjs`, bridge attached, real redis-server) in Chromium,
// driven the way a person would: two windows, deploys, going offline, a laptop sleep with a
// link that dies silently. And the README's script-tag example, served as it stands.
import { test, expect, type Page } from '@playwright/test';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { startDemoProcess, type NodeProcess } from './fixtures/bridge-processes';
import { startBooksApp, type BooksApp } from './fixtures/bridge-app';
import { demoApi, demoTitles, readmeExample, recordTimings, serverTitles, timings, type DemoBook } from './fixtures/bridge-demo';

/** The product promise: after a wake, the list is caught up within seconds (generous bound). */
const WAKE_TO_REFETCH_MS = 3000;
/** The modelled sleep: well past the client's wake threshold. */
const SLEEP_MS = 4000;

const redis = useRedisPerFile();
let demo: NodeProcess | undefined;
let proxy: BlackholeProxy | undefined;
let app: BooksApp | undefined;
let suspended: number | null = null;
let pageErrors: string[] = [];

test.beforeEach(async () => {
  pageErrors = [];
});
test.afterEach(async () => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  await proxy?.close();
  await demo?.stop('SIGKILL');
  await app?.close();
  proxy = undefined;
  demo = undefined;
  app = undefined;
  expect(pageErrors).toEqual([]);
});

async function startDemo(appVersion = 'v1'): Promise<NodeProcess> {
  demo = await startDemoProcess({ redisUrl: redis().url, appVersion });
  return demo;
}

async function openDemo(page: Page, url: string): Promise<void> {
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(url);
  await expect(page.locator('#badge')).toHaveText('live');
}

const feed = (page: Page): Promise<string[]> => page.locator('#feed div').allTextContents();
const row = (page: Page, id: number) => page.locator(`#books li[data-id="${id}"]`);

test('two windows see each other’s changes: add (form and API), rename, delete', async ({ page, browser }) => {
  const server = await startDemo();
  const other = await (await browser.newContext()).newPage();
  await openDemo(page, server.url);
  await openDemo(other, server.url);
  const initial = await serverTitles(server.url);
  await expect.poll(() => demoTitles(page)).toEqual(initial);
  await expect.poll(() => demoTitles(other)).toEqual(initial);

  // Add through the form in one window.
  await page.locator('#add input[name=title]').fill('The Dispossessed');
  await page.locator('#add input[name=author]').fill('Ursula K. Le Guin');
  await page.locator('#add button[type=submit]').click();
  await expect.poll(() => demoTitles(other)).toEqual([...initial, 'The Dispossessed']);
  await expect.poll(() => demoTitles(page)).toEqual([...initial, 'The Dispossessed']);

  // Add through the API, as another backend process would.
  const created = await demoApi<DemoBook>(server.url, 'POST', '/books', { title: 'Kindred', author: 'Octavia E. Butler' });
  for (const p of [page, other]) await expect(row(p, created.id).locator('.title')).toHaveText('Kindred');

  // Rename in the other window (the page asks with prompt()).
  other.once('dialog', (dialog) => void dialog.accept('Kindred (1979)'));
  await row(other, created.id).locator('button[data-act=rename]').click();
  for (const p of [page, other]) await expect(row(p, created.id).locator('.title')).toHaveText('Kindred (1979)');

  // Delete in the first window.
  await row(page, 1).locator('button[data-act=delete]').click();
  for (const p of [page, other]) await expect(row(p, 1)).toHaveCount(0);

  const final = await serverTitles(server.url);
  expect(await demoTitles(page)).toEqual(final);
  expect(await demoTitles(other)).toEqual(final);
  await other.context().close();
});

test('a deploy raises the banner once per new version; the same version again does not', async ({ page }) => {
  const server = await startDemo('v1');
  await openDemo(page, server.url);
  await expect(page.locator('#version')).toHaveText('v1');
  await expect(page.locator('#banner')).toBeHidden();
  // Count every time the page raises the banner (each notice rewrites its text).
  await page.evaluate(() => {
    (window as unknown as { raised: number }).raised = 0;
    new MutationObserver(() => (window as unknown as { raised: number }).raised++).observe(document.getElementById('banner-text')!, { childList: true });
  });
  const raised = (): Promise<number> => page.evaluate(() => (window as unknown as { raised: number }).raised);

  await demoApi(server.url, 'POST', '/deploy', { version: 'v2' });
  await expect(page.locator('#banner')).toBeVisible();
  await expect(page.locator('#banner-text')).toContainText('v1 → v2');
  expect(await raised()).toBe(1);

  // The same version again, then a newer one: once the newer one shows, the repeat has been
  // delivered too (one ordered link), and it must not have raised anything.
  await demoApi(server.url, 'POST', '/deploy', { version: 'v2' });
  await demoApi(server.url, 'POST', '/deploy', { version: 'v3' });
  await expect(page.locator('#banner-text')).toContainText('v1 → v3');
  expect(await raised()).toBe(2);
});

test('offline → online catches up by replay: the list equals the server’s after changes made while offline', async ({ page, context }) => {
  const server = await startDemo();
  await openDemo(page, server.url);
  await expect.poll(() => demoTitles(page)).toEqual(await serverTitles(server.url));

  await context.setOffline(true);
  await expect(page.locator('#badge')).toHaveAttribute('data-state', 'offline');
  const created = await demoApi<DemoBook>(server.url, 'POST', '/books', { title: 'Written offline', author: 'Nobody' });
  await demoApi(server.url, 'PATCH', '/books/2', { title: 'Renamed offline' });
  await demoApi(server.url, 'DELETE', '/books/3');

  await context.setOffline(false);
  const expected = await serverTitles(server.url);
  expect(expected).toContain('Written offline');
  await expect.poll(() => demoTitles(page)).toEqual(expected);
  await expect(page.locator('#badge')).toHaveText('live');
  await expect.poll(async () => (await feed(page)).join('\n')).toContain('caught up by replay (no refetch)');
  const lines = (await feed(page)).join('\n');
  // The embedded bus keeps the change log in memory: the three changes were replayed, in order,
  // and the list was not loaded again.
  expect(lines).toMatch(new RegExp(`destroy books#3[\\s\\S]*update books#2[\\s\\S]*create books#${created.id}`)); // newest first
  expect(lines).not.toMatch(/refetch all books \((offline|transport-close)\)/);
});

test('a sleep during which the link died silently catches up within seconds of wake, by replay', async ({ page }, testInfo) => {
  const server = await startDemo();
  proxy = await startBlackholeProxy(server.port);
  await recordTimings(page);
  await openDemo(page, proxy.url);
  await expect.poll(() => demoTitles(page)).toEqual(await serverTitles(server.url));
  // Wait until only the WebSocket is left open (the server closes idle keep-alive connections),
  // so the dead link is the socket.io one.
  await expect.poll(() => proxy!.live(), { timeout: 30_000 }).toBe(1);
  const pid = await findRenderer(page);
  const fetchesBefore = (await timings(page)).listFetches.length;

  suspended = pid;
  suspend(pid);
  expect(proxy.blackhole()).toBe(1);
  const created = await demoApi<DemoBook>(server.url, 'POST', '/books', { title: 'Written during the sleep', author: 'Night owl' });
  await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the sleep itself
  resume(pid);
  suspended = null;

  const expected = await serverTitles(server.url);
  await expect.poll(() => demoTitles(page)).toEqual(expected);
  await expect.poll(async () => (await timings(page)).feed.some((line) => line.text.includes('caught up by replay'))).toBe(true);
  const { wakes, listFetches, feed: lines } = await timings(page);
  const wake = wakes.find((w) => w.slept >= SLEEP_MS - 500);
  expect(wake, 'the page did not sleep: wrong renderer suspended?').toBeDefined();
  const caughtUp = lines.find((line) => line.text.includes('caught up by replay') && line.at >= wake!.at);
  expect(caughtUp, 'not caught up after the wake').toBeDefined();
  const wakeToCaughtUp = caughtUp!.at - wake!.at;
  testInfo.annotations.push({ type: 'wake→caught up', description: `${wakeToCaughtUp} ms` });
  console.log(`demo sleep: wake→caught up by replay ${wakeToCaughtUp} ms (page slept ${wake!.slept} ms)`);
  expect(wakeToCaughtUp).toBeLessThanOrEqual(WAKE_TO_REFETCH_MS);
  expect(listFetches.length, 'the list was loaded again').toBe(fetchesBefore);
  expect(lines.some((line) => line.text.includes(`create books#${created.id}`))).toBe(true); // replayed
  await expect(page.locator('#badge')).toHaveText('live');
  // The new link carries changes.
  const after = await demoApi<DemoBook>(server.url, 'POST', '/books', { title: 'After the wake', author: 'Early bird' });
  await expect(row(page, after.id).locator('.title')).toHaveText('After the wake');
});

test('the README script-tag example, served as it stands, renders the list and updates it live', async ({ page }) => {
  app = await startBooksApp({ redisUrl: redis().url, html: readmeExample('script-tag'), attachBridge: true });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const warnings: string[] = [];
  page.on('console', (message) => message.type() === 'warning' && warnings.push(message.text()));
  await page.goto(app.url);
  const items = (): Promise<string[]> => page.locator('#books li').allTextContents();
  await expect.poll(items).toEqual(['Dune', 'Emma']);
  await expect(page.locator('#state')).toHaveText('live');

  const created = await app.create('Live from the README');
  await expect.poll(items).toEqual(['Dune', 'Emma', 'Live from the README']);
  await app.rename(created.id, 'Renamed live');
  await expect.poll(async () => (await items()).sort()).toEqual(['Dune', 'Emma', 'Renamed live']);
  await app.destroy(1);
  await expect.poll(async () => (await items()).sort()).toEqual(['Emma', 'Renamed live']);

  // Without currentVersion the first version announced is the running one; the next raises the banner.
  await app.bridge!.publishVersion('v1');
  await app.bridge!.publishVersion('v2');
  await expect(page.locator('#banner')).toBeVisible();
  expect(warnings).toEqual([]);
});
