// One connection for all tabs of an app (issue 13), end to end: several pages of one browser
// context (they share BroadcastChannel and Web Locks, as tabs of one profile do), the script tag
// with `shareTabs: true`, the bridge as operators run it (`node dist/cli.js`) on a real
// redis-server, changes published through its change log (`FCALL lu_publish`). Which tab leads is
// read from the outside: the one page with a WebSocket open to the bridge.
import { test, expect, type BrowserContext, type Page, type WebSocket } from '@playwright/test';
import { health, startBridgeProcess, type NodeProcess } from './fixtures/bridge-processes';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { startTabsApp, type TabsApp, type TabsRecord, type TabsWindow } from './fixtures/tabs-app';

// The back/forward cache on, for the whole file (Playwright's defaults turn it off; test 4 needs it).
test.use({
  launchOptions: {
    executablePath: '/usr/bin/chromium',
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  },
});

const redis = useRedisPerFile();
const teardowns: Array<() => Promise<unknown>> = [];
let suspended: number | null = null;

test.afterEach(async () => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  for (const teardown of teardowns.splice(0).reverse()) await teardown();
});

async function bridge(): Promise<NodeProcess> {
  const proc = await startBridgeProcess({ redisUrl: redis().url });
  teardowns.push(() => proc.stop('SIGKILL'));
  return proc;
}

async function app(): Promise<TabsApp> {
  const made = await startTabsApp();
  teardowns.push(() => made.close());
  return made;
}

const update = (id: number) => ({ resource: 'books', action: 'update' as const, id, obj: { id, title: `book ${id}` } });

/** `FCALL lu_publish 0 '<json>'`, as a backend sends it. */
async function publish(id: number): Promise<void> {
  await redis().client.sendCommand(['FCALL', 'lu_publish', '0', JSON.stringify(update(id))]);
}

const record = (page: Page): Promise<TabsRecord> => page.evaluate(() => (window as unknown as TabsWindow).tabs);
const describeTab = (r: TabsRecord): string =>
  `states ${JSON.stringify(r.states.map((s) => `${s.state}:${s.reason}`))}; changes ${JSON.stringify(r.changes.map((c) => `${c.id}@${c.offset}`))}; refetches ${JSON.stringify(r.refetches.map((f) => f.reason))}; errors ${JSON.stringify(r.errors)}`;

/** Waits (15 s at most) until `predicate` holds in the page; a timeout fails with `what` and the page's record. */
async function until<A>(page: Page, what: string, predicate: (arg: A) => boolean, arg: A, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(predicate as (arg: unknown) => boolean, arg as unknown, { polling: 20, timeout });
  } catch (error) {
    throw new Error(`${what}: not within ${timeout} ms (${String(error).split('\n')[0]})\n${describeTab(await record(page))}`);
  }
}

/** Waits until the page was handed the change `id`. */
const seen = (page: Page, id: number): Promise<void> => until(page, `change ${id} handed over`, (n) => (window as unknown as TabsWindow).tabs.changes.some((c) => c.id === n), id);

/** Waits until the change `id` reached the page: handed over (replayed or live), or in what a later refetch loaded. */
const reached = (page: Page, id: number): Promise<void> =>
  until(page, `change ${id} reached the page (handed over or refetched)`, (n) => {
    const { changes, books } = (window as unknown as TabsWindow).tabs;
    return changes.some((c) => c.id === n) || books.includes(n);
  }, id);

/** The tabs of one test, and which of them has a WebSocket open to the bridge (the leader). */
function tabsOf(context: BrowserContext, bridgeUrl: string) {
  const open = new Map<Page, Set<WebSocket>>();
  const port = new URL(bridgeUrl).port;
  const watch = (page: Page): void => {
    open.set(page, new Set());
    page.on('websocket', (ws) => {
      if (!ws.url().includes(`:${port}/`)) return;
      open.get(page)?.add(ws);
      ws.on('close', () => open.get(page)?.delete(ws));
    });
  };
  return {
    async open(url: string): Promise<Page> {
      const page = await context.newPage();
      watch(page);
      await page.goto(url);
      return page;
    },
    /** The pages with a WebSocket open to the bridge now. */
    leaders: (): Page[] => [...open].filter(([page, sockets]) => sockets.size > 0 && !page.isClosed()).map(([page]) => page),
  };
}

/** Waits until every page is connected and loaded once. */
async function allLive(pages: Page[]): Promise<void> {
  for (const page of pages) {
    await until(page, 'connected and loaded', () => {
      const { states, refetches } = (window as unknown as TabsWindow).tabs;
      return states.at(-1)?.state === 'connected' && refetches.length > 0;
    }, undefined);
  }
}

/** Each page's changes, as `id@offset`. */
const idsOf = (r: TabsRecord): Array<string | number> => r.changes.map((c) => c.id);

function measured(description: string): void {
  console.log(`${test.info().title.split(':')[0]}: ${description}`);
  test.info().annotations.push({ type: 'measured', description });
}

test('1. four tabs: the bridge sees one connection; a change reaches all four within 100 ms of each other', async ({ context }) => {
  const proc = await bridge();
  const made = await app();
  const tabs = tabsOf(context, proc.url);
  const pages: Page[] = [];
  for (let i = 0; i < 4; i++) pages.push(await tabs.open(made.pageUrl(proc.url)));
  await allLive(pages);
  await expect.poll(async () => (await health(proc.url)).clients).toBe(1);
  expect(tabs.leaders()).toHaveLength(1);

  const spreads: number[] = [];
  for (let id = 1; id <= 5; id++) {
    await publish(id);
    for (const page of pages) await seen(page, id);
    const times = await Promise.all(pages.map(async (page) => (await record(page)).changes.find((c) => c.id === id)!.t));
    spreads.push(Math.max(...times) - Math.min(...times));
  }
  const records = await Promise.all(pages.map(record));
  measured(`bridge clients ${(await health(proc.url)).clients}; spread of delivery across 4 tabs per change ${JSON.stringify(spreads)} ms; API GETs ${JSON.stringify(made.gets())}`);
  for (const r of records) {
    expect(idsOf(r), describeTab(r)).toEqual([1, 2, 3, 4, 5]);
    expect(r.errors).toEqual([]);
  }
  expect(Math.max(...spreads)).toBeLessThan(100);
  expect((await health(proc.url)).clients).toBe(1);
  expect(made.gets()).toEqual({ subscribed: 4 });
});

test('2. the leader closes: another tab leads within 2 s; a change published during the hand-over reaches every tab, none twice', async ({ context }) => {
  const proc = await bridge();
  const made = await app();
  const tabs = tabsOf(context, proc.url);
  const pages: Page[] = [];
  for (let i = 0; i < 4; i++) pages.push(await tabs.open(made.pageUrl(proc.url)));
  await allLive(pages);
  await publish(1);
  for (const page of pages) await seen(page, 1);
  const [leader] = tabs.leaders();
  expect(leader).toBeDefined();
  const rest = pages.filter((page) => page !== leader);

  const closedAt = Date.now();
  await leader!.close();
  made.setBooks([2]);
  await publish(2); // while no tab holds a connection, or the new one is still opening
  await expect.poll(() => tabs.leaders().length, { intervals: [20] }).toBe(1);
  await expect.poll(async () => (await health(proc.url)).clients, { intervals: [20] }).toBe(1);
  const ledAt = Date.now();
  for (const page of rest) await reached(page, 2);
  await publish(3);
  for (const page of rest) await seen(page, 3);

  const records = await Promise.all(rest.map(record));
  measured(`new leader connected ${ledAt - closedAt} ms after the old one closed; states ${JSON.stringify(records[0]!.states.map((s) => `${s.state}:${s.reason}`))}; refetches per tab ${JSON.stringify(records.map((r) => r.refetches.map((f) => f.reason)))}; API GETs ${JSON.stringify(made.gets())}`);
  expect(ledAt - closedAt).toBeLessThan(2000);
  for (const r of records) {
    const ids = idsOf(r);
    expect(new Set(ids).size, `no change twice: ${describeTab(r)}`).toBe(ids.length);
    // Replayed from the change log (then handed over as a change), or refetched.
    expect(ids.includes(2) || r.books.includes(2), describeTab(r)).toBe(true);
    expect(ids.filter((id) => id !== 2)).toEqual([1, 3]);
    expect(r.errors).toEqual([]);
  }
});

test('3. the leader\'s renderer is suspended (SIGSTOP): a visible tab takes over; on SIGCONT the old leader steps down and delivers nothing twice', async ({ context }) => {
  const proc = await bridge();
  const made = await app();
  const tabs = tabsOf(context, proc.url);
  const pages: Page[] = [];
  for (let i = 0; i < 3; i++) pages.push(await tabs.open(made.pageUrl(proc.url)));
  await allLive(pages);
  await publish(1);
  for (const page of pages) await seen(page, 1);
  const [leader] = tabs.leaders();
  // Same-site pages may share a renderer process, and a SIGSTOP suspends every page it runs: sort
  // the followers into those that stay awake and those suspended with the leader, opening more
  // tabs until one runs in a process of its own.
  const pid = await findRenderer(leader!);
  const rest: Page[] = [];
  const alongside: Page[] = [];
  for (const page of pages.filter((other) => other !== leader)) ((await findRenderer(page)) === pid ? alongside : rest).push(page);
  for (let extra = 0; rest.length === 0 && extra < 4; extra++) {
    const page = await tabs.open(made.pageUrl(proc.url));
    await allLive([page]);
    pages.push(page);
    ((await findRenderer(page)) === pid ? alongside : rest).push(page);
  }
  expect(rest.length, 'a follower tab in a renderer process of its own').toBeGreaterThan(0);

  suspended = pid;
  suspend(pid);
  const stoppedAt = Date.now();
  await publish(2); // the old leader's socket takes it in, but its tab cannot run
  for (const page of rest) await seen(page, 2);
  await expect.poll(() => tabs.leaders().filter((page) => page !== leader).length, { intervals: [50] }).toBe(1);
  const tookOverAt = Date.now();
  await publish(3);
  for (const page of rest) await seen(page, 3);

  resume(pid);
  suspended = null;
  // The old leader steps down: its socket closes and the bridge is back to one connection.
  await expect.poll(() => tabs.leaders().length, { intervals: [50] }).toBe(1);
  await expect.poll(async () => (await health(proc.url)).clients, { intervals: [50] }).toBe(1);
  await publish(4);
  for (const page of pages) await seen(page, 4);

  const records = await Promise.all(pages.map(record));
  measured(`a follower led ${tookOverAt - stoppedAt} ms after the leader's renderer stopped (${alongside.length} follower(s) suspended with it, ${rest.length} awake); changes per tab ${JSON.stringify(records.map(idsOf))}; refetches ${JSON.stringify(records.map((r) => r.refetches.map((f) => f.reason)))}`);
  for (const r of records) {
    const ids = idsOf(r);
    expect(new Set(ids).size, `no change twice: ${describeTab(r)}`).toBe(ids.length);
    expect(ids).toContain(4);
    expect(r.errors).toEqual([]);
  }
  for (const page of rest) expect(idsOf(await record(page)).filter((id) => id !== 1)).toEqual([2, 3, 4]);
});

test('4. the leader navigates away and comes back from the back/forward cache: it rejoins and catches up; notRestoredReasons names no lock', async ({ context }) => {
  const proc = await bridge();
  const made = await app();
  const tabs = tabsOf(context, proc.url);
  const pages: Page[] = [];
  for (let i = 0; i < 3; i++) pages.push(await tabs.open(made.pageUrl(proc.url)));
  await allLive(pages);
  const [leader] = tabs.leaders();
  const rest = pages.filter((page) => page !== leader);

  await leader!.goto(`${made.url}/elsewhere`);
  made.setBooks([1]);
  await publish(1); // while the tab is in the cache
  for (const page of rest) await reached(page, 1);
  await expect.poll(() => tabs.leaders().filter((page) => page !== leader).length, { intervals: [50] }).toBe(1);

  await leader!.goBack({ waitUntil: 'commit' });
  await until(leader!, 'shown again', () => ((window as unknown as TabsWindow).tabs?.shows.length ?? 0) > 0 && (window as unknown as TabsWindow).tabs.shows.at(-1)!.t > 0, undefined);
  const reasons = await leader!.evaluate(() => JSON.stringify((performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming & { notRestoredReasons?: unknown }).notRestoredReasons ?? null));
  const persisted = await leader!.evaluate(() => (window as unknown as TabsWindow).tabs.shows.at(-1)!.persisted);
  expect(persisted, `restored from the back/forward cache (notRestoredReasons ${reasons})`).toBe(true);
  // Caught up: reloaded after the restore (the change itself went by while it was away).
  await until(leader!, 'reloaded after the restore', () => (window as unknown as TabsWindow).tabs.refetches.some((f) => f.reason === 'hand-over') && (window as unknown as TabsWindow).tabs.books.includes(1), undefined);
  await publish(2);
  for (const page of pages) await seen(page, 2);

  const restored = await record(leader!);
  measured(`notRestoredReasons ${reasons}; the restored tab: ${describeTab(restored)}; bridge clients ${(await health(proc.url)).clients}`);
  expect(reasons).not.toMatch(/lock/i);
  expect(restored.changes.filter((c) => c.id === 2)).toHaveLength(1);
  expect(restored.errors).toEqual([]);
  expect((await health(proc.url)).clients).toBe(1);
});
