// The README's recipes in Chromium, each page served exactly as printed (README → Recipes):
// Backbone on the real backbone and underscore packages, SWR with React (the JSX compiled by
// TypeScript and bundled with rollup here, as an app's bundler would), the server-rendered page
// that reloads a fragment, and the rake deploy task's rollback seen by two pages of the script-tag
// example. The backend (e2e/fixtures/recipes-app.ts) has the bridge attached, on a real
// redis-server, and announces its changes through the change log unless a test says otherwise.
import { test, expect, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup, type Plugin } from 'rollup';
import resolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import ts from 'typescript';
import type { LiveUpdates, VersionChange } from '../src/index';
import { prepareDeployTask } from './fixtures/deploy-task';
import { readmeBlock } from './fixtures/readme';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { startRecipesApp, type Announce, type RecipesApp } from './fixtures/recipes-app';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// The globals the printed pages define (top-level consts of their classic scripts), as page
// functions see them.
declare const live: LiveUpdates;
declare const books: {
  length: number;
  get(id: number): { save(attrs: object): PromiseLike<unknown> };
  create(attrs: object, options: object): unknown;
  map<T>(fn: (book: { id: number }) => T): T[];
};
type RecordingWindow = Window & { errors: string[]; notices: VersionChange[] };

const redis = useRedisPerFile();
let app: RecipesApp | undefined;
let cleanup: Array<() => Promise<void>> = [];
let pageErrors: string[] = [];

test.beforeEach(() => {
  pageErrors = [];
});
test.afterEach(async () => {
  // What the pages reported while the test ran (not their complaints once the app is gone).
  const errors = [...pageErrors];
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
  await app?.close();
  app = undefined;
  expect(errors).toEqual([]);
});

/** Opens the app's page, failing the test on any uncaught page error or console error. */
async function open(page: Page, url: string): Promise<void> {
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // Console errors too, but not the browser's own reports of requests it could not send offline,
  // nor of the 404 a deleted book's own URL answers.
  page.on('console', (message) => {
    if (message.type() !== 'error' || message.text().includes('net::ERR_INTERNET_DISCONNECTED')) return;
    if (message.text().includes('404') && /\/books\/\d+$/.test(message.location().url)) return;
    pageErrors.push(message.text());
  });
  await page.goto(url);
}

/** Records the instance's error events in `window.errors` but connection attempts (classic pages, whose `live` is global). */
const recordErrors = (page: Page): Promise<void> =>
  page.evaluate(() => {
    (window as unknown as RecordingWindow).errors = [];
    // Failed connection attempts while the page is offline are expected; anything else is not.
    live.onError((error) => error.code !== 'connect-error' && (window as unknown as RecordingWindow).errors.push(`${error.code}: ${error.message}`));
  });
const errorsOf = (page: Page): Promise<string[]> => page.evaluate(() => (window as unknown as RecordingWindow).errors);

const listTitles = (page: Page): Promise<string[]> => page.locator('#books li').allTextContents();

/**
 * Takes the page offline, makes `changes` announced the given way while it is away, and brings it
 * back. The page is offline once it has seen `navigator.onLine` turn false: the `offline` event
 * (on which the client drops its link) fires in the same task.
 */
async function offlineSpell(page: Page, announce: Announce, changes: (app: RecipesApp) => Promise<unknown>): Promise<void> {
  await page.context().setOffline(true);
  await expect.poll(() => page.evaluate(() => navigator.onLine)).toBe(false);
  app!.announce = announce;
  await changes(app!);
  app!.announce = 'log';
  await page.context().setOffline(false);
}

test.describe('Backbone', () => {
  const PAGE = readmeBlock('backbone').code;
  /** Starts the app, opens the page and waits until it shows the server's list. */
  async function openBackbone(page: Page): Promise<RecipesApp> {
    app = await startRecipesApp({ redisUrl: redis().url, html: PAGE });
    await open(page, app.url);
    await expect.poll(() => listTitles(page)).toEqual(['Dune', 'Emma']);
    await recordErrors(page);
    return app;
  }

  test('the collection follows creates, updates and destroys; the page’s own save and create({ wait: true }) leave one model per id', async ({ page }) => {
    const app = await openBackbone(page);

    // Another user's changes, announced by the app's model callbacks.
    const kindred = await app.create('Kindred');
    await expect.poll(() => listTitles(page)).toEqual(['Dune', 'Emma', 'Kindred']);
    await app.rename(1, 'Dune Messiah');
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Emma', 'Kindred']);
    await app.destroy(2);
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Kindred']);

    // The page's own save (a PUT with jQuery); the app announces it back.
    await page.evaluate((id) => books.get(id).save({ title: 'Kindred (1979)' }), kindred.id);
    expect(app.titles()).toEqual(['Dune Messiah', 'Kindred (1979)']);
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Kindred (1979)']);

    // create({ wait: true }) whose announcement arrives before the POST's answer: the change adds
    // the model, and the answer then finds it by id instead of adding a twin.
    const held = app.holdNextCreate();
    const created = page.evaluate(() => new Promise((resolve, reject) => books.create({ title: 'Emma' }, { wait: true, success: () => resolve(null), error: () => reject(new Error('POST /books failed')) })));
    await held.committed;
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Kindred (1979)', 'Emma']);
    held.release();
    await created;
    expect(await page.evaluate(() => books.map((book) => book.id))).toEqual(app.list().map((book) => book.id));
    await expect.poll(() => listTitles(page)).toEqual(app.titles());
    expect(await errorsOf(page)).toEqual([]);
  });

  test('after offline spells the collection equals the server: replayed from the log, then refetched with fetch({ reset: true })', async ({ page }) => {
    const app = await openBackbone(page);
    const loads = app.answered('GET', '/books');

    // Announced through the change log: replayed on return, no request.
    await offlineSpell(page, 'log', async (a) => {
      await a.create('Written offline');
      await a.rename(1, 'Renamed offline');
      await a.destroy(2);
    });
    await expect.poll(() => listTitles(page)).toEqual(app.titles());
    await expect.poll(() => page.evaluate(() => live.status.reason)).toBe('replayed');
    expect(app.answered('GET', '/books')).toBe(loads);

    // Announced with plain PUBLISH (no log): the gap's refetch is the collection's fetch.
    await offlineSpell(page, 'plain', async (a) => {
      await a.create('Also written offline');
      await a.destroy(1);
    });
    await expect.poll(() => listTitles(page)).toEqual(app.titles());
    expect(app.titles()).toEqual(['Written offline', 'Also written offline']);
    expect(app.answered('GET', '/books')).toBeGreaterThan(loads);
    expect(await errorsOf(page)).toEqual([]);
  });

  test('a refetch past its deadline: the signal aborts the jqXHR (the request ends), and the retry resets the collection', async ({ page }) => {
    const app = await openBackbone(page);

    const held = app.holdNext('/books'); // the next GET /books hangs, as one on a dead pooled connection does
    await offlineSpell(page, 'plain', (a) => a.create('Missed while offline'));
    const hung = await held;
    await expect.poll(() => hung.outcome).toBe('aborted'); // by the browser, at the refetch's deadline
    await expect.poll(() => listTitles(page)).toEqual(['Dune', 'Emma', 'Missed while offline']);
    const errors = await errorsOf(page);
    expect(errors).toEqual([expect.stringMatching(/^refetch-failed: .*no answer within \d+ ms/)]);
    test.info().annotations.push({ type: 'deadline', description: errors[0]! });
  });
});

test.describe('a server-rendered page that reloads a fragment', () => {
  const PAGE = readmeBlock('fragment').code;
  const listHtml = (page: Page): Promise<string> => page.locator('#books').innerHTML();

  test('renders on the server, re-renders the fragment on every change (a burst in a few loads), and equals the server after offline spells', async ({ page }) => {
    app = await startRecipesApp({ redisUrl: redis().url, html: PAGE });
    await open(page, app.url);
    await expect.poll(() => page.evaluate(() => live.state)).toBe('connected');
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    expect(await listTitles(page)).toEqual(['Dune', 'Emma']);
    await recordErrors(page);

    await app.create('Kindred');
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    await app.rename(1, 'Dune Messiah');
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    await app.destroy(2);
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    expect(await listTitles(page)).toEqual(['Dune Messiah', 'Kindred']);

    const before = app.answered('GET', '/books/fragment');
    const BURST = 10;
    await Promise.all(Array.from({ length: BURST }, (_, i) => app!.create(`Burst ${i + 1}`))); // one burst on one Redis connection
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    const burstLoads = app.answered('GET', '/books/fragment') - before;
    test.info().annotations.push({ type: 'burst', description: `${BURST} changes, ${burstLoads} fragment loads` });
    expect(burstLoads).toBeLessThanOrEqual(4); // 2 in every run so far; one per change would be 10

    await offlineSpell(page, 'log', async (a) => {
      await a.create('Written offline');
      await a.destroy(1);
    });
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    await offlineSpell(page, 'plain', (a) => a.rename(3, 'Kindred (1979)'));
    await expect.poll(() => listHtml(page)).toBe(app.fragment());
    expect(await listTitles(page)).toContain('Kindred (1979)');
    expect(await errorsOf(page)).toEqual([]);
  });
});

test.describe('SWR', () => {
  /** The README's example, its JSX compiled by TypeScript, bundled with React, SWR and live-updates (from src/). */
  async function bundle(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'lu-swr-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const entry = join(dir, 'swr-recipe.jsx');
    writeFileSync(entry, readmeBlock('swr').code);
    const compile: Plugin = {
      name: 'typescript-transpile',
      resolveId: (source) => (source === 'live-updates' ? join(ROOT, 'src/index.ts') : null),
      transform(code, id) {
        if (!/\.(jsx|ts)$/.test(id)) return null;
        const { outputText } = ts.transpileModule(code, {
          fileName: id,
          compilerOptions: { jsx: ts.JsxEmit.ReactJSX, module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
        });
        return { code: outputText, map: null };
      },
    };
    const define: Plugin = {
      name: 'define-node-env',
      transform: (code) => (code.includes('process.env.NODE_ENV') ? { code: code.replaceAll('process.env.NODE_ENV', '"production"'), map: null } : null),
    };
    const build = await rollup({ input: entry, onwarn: () => {}, plugins: [compile, define, resolve({ browser: true, extensions: ['.mjs', '.js', '.jsx', '.ts', '.json'], modulePaths: [join(ROOT, 'node_modules')] }), commonjs()] });
    const file = join(dir, 'swr-recipe.js');
    await build.write({ file, format: 'es', sourcemap: false });
    await build.close();
    return file;
  }

  test('the list and a featured book follow changes (mutate with a key filter); the refetch revalidates every books key; equal to the server after an offline spell', async ({ page }) => {
    test.setTimeout(90_000);
    const script = await bundle();
    const html = '<!doctype html><meta charset="utf-8"><div id="app"></div><script type="module" src="/assets/swr-recipe.js"></script>';
    app = await startRecipesApp({ redisUrl: redis().url, html, assets: { 'swr-recipe.js': script } });
    await open(page, app.url);
    const featured = page.locator('#featured');
    await expect.poll(() => listTitles(page)).toEqual(['Dune', 'Emma']);
    await expect(featured).toHaveText('Featured: Dune');

    await app.create('Kindred');
    await expect.poll(() => listTitles(page)).toEqual(['Dune', 'Emma', 'Kindred']);
    await app.rename(1, 'Dune Messiah');
    await expect(featured).toHaveText('Featured: Dune Messiah');
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Emma', 'Kindred']);
    // A change to another book leaves the featured one's key alone.
    const featuredLoads = app.answered('GET', '/books/1');
    await app.rename(2, 'Emma (1815)');
    await expect.poll(() => listTitles(page)).toEqual(['Dune Messiah', 'Emma (1815)', 'Kindred']);
    expect(app.answered('GET', '/books/1')).toBe(featuredLoads);

    // A gap SWR cannot see: the bridge tells its clients to refetch (as after it lost Redis) and
    // the refetch revalidates the list and the featured book, changed without an announcement.
    app.announce = 'none';
    await app.rename(1, 'Dune (1965)');
    app.announce = 'log';
    app.bridge.resync('test');
    await expect(featured).toHaveText('Featured: Dune (1965)');
    await expect.poll(() => listTitles(page)).toEqual(app.titles());

    await offlineSpell(page, 'plain', async (a) => {
      await a.create('Written offline');
      await a.destroy(3);
    });
    await expect.poll(() => listTitles(page)).toEqual(app.titles());

    await app.destroy(1);
    await expect(featured).toHaveText('Book 1 is gone.');
    await expect.poll(() => listTitles(page)).toEqual(['Emma (1815)', 'Written offline']);
  });
});

test.describe('deploy task', () => {
  const PAGE = readmeBlock('script-tag').code;
  /** Records the page's version notices in `window.notices` (the script-tag example's `live` is global). */
  const recordNotices = (page: Page): Promise<void> =>
    page.evaluate(() => {
      (window as unknown as RecordingWindow).notices = [];
      live.onNewVersion((notice) => (window as unknown as RecordingWindow).notices.push(notice));
    });
  const noticesOf = (page: Page): Promise<VersionChange[]> => page.evaluate(() => (window as unknown as RecordingWindow).notices);

  test('a failed smoke test rolls back: the page running v1 sees its banner for v2 go again, the page loaded during the bad release is offered no downgrade', async ({ page, context }) => {
    app = await startRecipesApp({ redisUrl: redis().url, html: PAGE });
    const server = app;
    await app.bridge.publishVersion('v1', { build: 1 }); // the deploy before, by the same task
    await open(page, app.url);
    await expect(page.locator('#state')).toHaveText('live');
    await expect.poll(() => page.evaluate(() => live.version)).toBe('v1');
    await recordNotices(page);

    // While the smoke test runs, v2 is out: a page opened now runs it, and the page on v1 shows
    // its banner. Then the smoke test fails.
    const during = await context.newPage();
    const task = await prepareDeployTask(async () => {
      await open(during, server.url);
      await expect(during.locator('#state')).toHaveText('live');
      await expect.poll(() => during.evaluate(() => live.version)).toBe('v2');
      await recordNotices(during);
      await expect(page.locator('#banner')).toBeVisible();
      return 500;
    });
    cleanup.push(task.close);

    const rake = await task.deploy(redis().url, 'v2', 2);
    expect(rake.code).not.toBe(0);
    expect(task.releases()).toEqual(['v2', 'v1']);
    expect(await redis().client.get('app-version')).toBe('v1');

    // The page running v1: the offer of v2 is withdrawn, and its banner goes.
    await expect(page.locator('#banner')).toBeHidden();
    expect(await noticesOf(page)).toEqual([
      { current: 'v1', latest: 'v2', required: false, build: 2 },
      { current: 'v1', latest: null, required: false },
    ]);
    expect(await page.evaluate(() => live.version)).toBe('v1');
    // The page running v2 is offered no downgrade. A change published after the rollback reaches
    // it after v1 (one Redis subscriber, one socket): once it shows, v1 has been heard.
    await app.create('After the rollback');
    await expect.poll(() => listTitles(during)).toContain('After the rollback');
    await expect(during.locator('#banner')).toBeHidden();
    expect(await noticesOf(during)).toEqual([]);

    // A page loaded after the rollback runs v1: no banner.
    const after = await context.newPage();
    await open(after, app.url);
    await expect(after.locator('#state')).toHaveText('live');
    await expect.poll(() => after.evaluate(() => live.version)).toBe('v1');
    await expect(after.locator('#banner')).toBeHidden();
  });
});
