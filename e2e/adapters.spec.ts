// The framework adapters in Chromium: a React page (StrictMode at the root), a Vue page and a
// TanStack Query page (e2e/fixtures/adapter-pages/), bundled here with rollup from src/ as an
// app's bundler would (node-resolve, commonjs for React, the frameworks' production builds),
// served by a small app with the bridge attached (embedded bus, with its change log). Each page
// must show a change within a second, show the connection state, show the version banner once,
// and catch up after an offline spell.
import { test, expect, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup, type Plugin } from 'rollup';
import resolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import typescript from '@rollup/plugin-typescript';
import { createBridge, createSilentLogger, type Bridge } from '../src/bridge/index';
import type { AdapterPageRecord, Book } from './fixtures/adapter-pages/books';
import { trackConnections } from './fixtures/connections';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = ['react', 'vue', 'tanstack-query'] as const;
type PageName = (typeof PAGES)[number];
/** The bound: a published change is on screen within a second. */
const CHANGE_ON_SCREEN_MS = 1000;

/** What a bundler's `define` does: the frameworks' production builds, Vue's feature flags. */
function define(values: Record<string, string>): Plugin {
  return {
    name: 'define',
    transform(code) {
      let out = code;
      for (const [key, value] of Object.entries(values)) out = out.split(key).join(value);
      return out === code ? null : { code: out, map: null };
    },
  };
}

let assets = '';
let app: Awaited<ReturnType<typeof startApp>> | undefined;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  assets = mkdtempSync(join(tmpdir(), 'live-updates-adapters-'));
  const bundle = await rollup({
    input: Object.fromEntries(PAGES.map((name) => [name, join(ROOT, `e2e/fixtures/adapter-pages/${name}.ts`)])),
    onwarn: () => {},
    plugins: [
      // Development builds: StrictMode double-invokes effects only there.
      define({ 'process.env.NODE_ENV': '"development"', __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false' }),
      resolve({ browser: true }),
      commonjs(),
      typescript({ tsconfig: join(ROOT, 'tsconfig.json'), include: ['src/**/*.ts', 'e2e/fixtures/adapter-pages/*.ts', 'test/helpers/count-subscriptions.ts'], compilerOptions: { noEmit: false, declaration: false } }),
    ],
  });
  await bundle.write({ dir: assets, format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' });
  await bundle.close();
});
test.afterAll(() => {
  if (assets) rmSync(assets, { recursive: true, force: true });
});
test.afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** The app: GET /books (loads counted per page), the pages and their bundles, the bridge attached. */
async function startApp() {
  const books = new Map<number, Book>([
    [1, { id: 1, title: 'Dune' }],
    [2, { id: 2, title: 'Emma' }],
  ]);
  let nextId = 3;
  const loads: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const name = url.pathname.slice(1);
    if (PAGES.includes(name as PageName)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>${name}</title><div id="app"></div><script type="module" src="/assets/${name}.js"></script>`);
    } else if (url.pathname.startsWith('/assets/')) {
      const file = normalize(join(assets, url.pathname.slice('/assets/'.length)));
      if (!file.startsWith(assets)) return void res.writeHead(404).end();
      try {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
      } catch {
        res.writeHead(404).end();
      }
    } else if (url.pathname === '/books') {
      const page = url.searchParams.get('page') ?? '';
      loads[page] = (loads[page] ?? 0) + 1;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify([...books.values()]));
    } else if (!url.pathname.startsWith('/socket.io')) {
      res.writeHead(404).end();
    }
  });
  const sockets = trackConnections(server);
  const bridge: Bridge = await createBridge({ server, logger: createSilentLogger() });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  await bridge.publishVersion('v1');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    loads,
    titles: () => [...books.values()].map((book) => book.title),
    /** Changes a book as the backend's model callbacks would: commit, then publish. */
    async create(title: string) {
      const book = { id: nextId++, title };
      books.set(book.id, book);
      await bridge.publishChange({ resource: 'books', action: 'create', id: book.id, obj: book });
    },
    async rename(id: number, title: string) {
      const book = { id, title };
      books.set(id, book);
      await bridge.publishChange({ resource: 'books', action: 'update', id, obj: book });
    },
    async destroy(id: number) {
      books.delete(id);
      await bridge.publishChange({ resource: 'books', action: 'destroy', id });
    },
    deploy: (version: string) => bridge.publishVersion(version),
    async close() {
      for (const socket of sockets) socket.destroy();
      await bridge.close();
    },
  };
}

const shown = (page: Page) => page.locator('#books li').allTextContents();
const recorded = (page: Page): Promise<AdapterPageRecord> =>
  page.evaluate(() => {
    const { notices, errors, loads, subscriptions } = window as unknown as AdapterPageRecord;
    return { notices, errors, loads, subscriptions };
  });

for (const name of PAGES) {
  test(`${name} page: a change on screen within a second, the state, the banner once, caught up after an offline spell`, async ({ page, context }) => {
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // The frameworks' development builds warn on console.error (React: a hook misused, an update
    // during render…); network errors of the offline spell are expected.
    page.on('console', (message) => {
      if (message.type() === 'error' && !/net::ERR_|WebSocket connection/.test(message.text())) pageErrors.push(message.text());
    });
    app = await startApp();
    const server = app;
    await page.goto(`${server.origin}/${name}`);
    await expect(page.locator('#state')).toHaveText('live');
    await expect.poll(() => shown(page)).toEqual(server.titles());
    // React under StrictMode (development build): the mount–unmount–mount leaves one library
    // subscription. It loads once when it becomes live — or twice when it was made while the
    // socket's handshake was in flight (the core takes it live on connect, as a plain server
    // would have it, and again once the bridge acknowledged it).
    await page.waitForTimeout(300);
    const start = await recorded(page);
    if (name === 'tanstack-query') {
      // The observer's first fetch, and the reload when the subscription went live (which
      // shares a first fetch still in flight).
      expect(server.loads[name]).toBeGreaterThanOrEqual(1);
      expect(server.loads[name]).toBeLessThanOrEqual(2);
    } else {
      expect(start.subscriptions).toEqual({ made: 1, open: 1 });
      expect(start.loads.length).toBe(server.loads[name]);
      expect(new Set(start.loads)).toEqual(new Set(['subscribed']));
      expect(start.loads.length).toBeLessThanOrEqual(2);
    }
    const loadsBefore = start.loads.length;

    await server.create('Kindred');
    await expect(page.locator('#books li', { hasText: 'Kindred' })).toHaveCount(1, { timeout: CHANGE_ON_SCREEN_MS });
    await server.rename(2, 'Emma (1815)');
    await expect(page.locator('#books li', { hasText: 'Emma (1815)' })).toHaveCount(1, { timeout: CHANGE_ON_SCREEN_MS });

    await expect(page.locator('#banner')).toHaveCount(0);
    await server.deploy('v2');
    await expect(page.locator('#banner')).toHaveText('Version v2 is out');
    await server.deploy('v2');

    await context.setOffline(true);
    await expect(page.locator('#state')).toHaveText(/^offline/);
    await server.destroy(1);
    await server.create('Wild Seed');
    await server.rename(2, 'Emma, revised');
    await page.waitForTimeout(200);
    expect(await shown(page)).toContain('Dune');
    await context.setOffline(false);
    await expect(page.locator('#state')).toHaveText('live');
    await expect.poll(() => shown(page)).toEqual(server.titles());

    await expect(page.locator('#banner')).toHaveCount(1);
    // Reconnection attempts made while offline fail (connect-error); nothing else went wrong.
    const { notices, errors, loads } = await recorded(page);
    expect({ notices, errors: errors.filter((code) => code !== 'connect-error') }).toEqual({ notices: ['v2'], errors: [] });
    // Caught up by replaying the bridge's change log: no reload.
    expect(loads.length).toBe(loadsBefore);
    expect(pageErrors).toEqual([]);
  });
}
