// Catch-up (issue 9): every way a subscription becomes live or comes back must end with the page
// equal to the server. Each test is one case of the issue, numbered as there, in Debian's Chromium,
// against real servers: the books app (e2e/fixtures/books-app.ts) owns the truth behind GET /books
// and runs a tutorial-style socket.io v4 server that forwards Redis `rt-change` messages; changes
// are committed there and PUBLISHed to a real redis-server. The page (fixtures/catch-up-page.ts)
// is the README's script-tag example under the issue-9 contract: `load({ signal })` replaces the
// list, the handler upserts or removes by id, `{ refetch: load }`.
//
// What each case needs from the client (the contract in notes/contract.md):
//  1. a refetch when the subscription becomes live (reason 'subscribed'), and `ready`;
//  3. failed refetches retried with backoff, one `refetch-failed` per attempt, with `attempt`;
//  4. a refetch deadline, so a GET stuck on a pooled connection that died in a sleep is aborted
//     and retried (the backend keeps idle connections 75 s, as nginx does);
//  5. a loss seen on wake is a local gap ('dead-link'): refetch at once, no herd spread;
//  9. changes that arrive while a refetch is in flight are held until its snapshot is applied.
// Times are measured in the page (its own clock) and logged as annotations; the only durations
// asserted are generous bounds around the issue's goals.
import { test, expect, type Page } from '@playwright/test';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { startBooksApp, type BooksApp, type BooksAppOptions } from './fixtures/books-app';
import type { Book, CatchUpRecord, CatchUpWindow } from './fixtures/catch-up-page';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { KICK_WINDOW_MS as RECONNECT_KICK_WINDOW_MS } from '../src/reconnect-policy';

/** A modelled laptop sleep: well past the client's 2 s wake threshold. */
const SLEEP_MS = 4000;
/** Sleeps per wake case (the issue's "each of 5 sleeps"). */
const SLEEPS = 5;
/** Issue 9's goal for cases 4 and 5, wake → page equal to the server: logged next to each number. */
const GOAL_WAKE_TO_EQUAL_MS = 1500;
/** What cases 4 and 5 assert per sleep: generous for a noisy machine, far below a refetch hung on a dead connection. */
const BOUND_WAKE_TO_EQUAL_MS = 5000;
/** How long cases 4 and 5 wait for the page to equal the server before reporting it stale; raise it (CATCH_UP_PATIENCE_MS=100000) to measure a slow client. */
const PATIENCE_MS = Number(process.env.CATCH_UP_PATIENCE_MS ?? 10_000);
/** Resets wait until the connection is older than the kick window (a fresh connection ended is a kick, not a gap), with a margin. */
const KICK_WINDOW_MS = RECONNECT_KICK_WINDOW_MS + 1000;

const redis = useRedisPerFile();
let apps: BooksApp[] = [];
let proxies: BlackholeProxy[] = [];
let suspended: number | null = null;

test.afterEach(async ({ page }) => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  await test.step('close the page', () => page.close());
  // Proxies first: a frozen connection would hold the app's close() open.
  await test.step('close proxies', () => Promise.all(proxies.map((proxy) => proxy.close())));
  await test.step('close apps', () => Promise.all(apps.map((app) => app.close())));
  apps = [];
  proxies = [];
});

async function serve(options: Partial<BooksAppOptions> = {}): Promise<BooksApp> {
  const app = await startBooksApp({ redisUrl: redis().url, ...options });
  apps.push(app);
  return app;
}

async function proxyTo(app: BooksApp): Promise<BlackholeProxy> {
  const proxy = await startBlackholeProxy(app.port);
  proxies.push(proxy);
  return proxy;
}

// ---- reading the page ------------------------------------------------------------------------

const record = (page: Page): Promise<CatchUpRecord> =>
  page.evaluate(() => {
    const { books, renders, refetches, loads, handled, errors, states, wakes, ready, readyAt } = window as unknown as CatchUpWindow;
    return { books, renders, refetches, loads, handled, errors, states, wakes, ready, readyAt };
  });

/** Waits until the page has been 'connected' `times` times and is connected now. */
async function connected(page: Page, times = 1, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const states = (window as unknown as CatchUpWindow).states;
      return states.filter((s) => s.state === 'connected').length >= n && states.at(-1)?.state === 'connected';
    },
    times,
    { timeout },
  );
}

/** Whether the page's list equals the app's within `timeout` ms (the app must not change meanwhile). */
const becomesEqual = (page: Page, app: BooksApp, timeout: number): Promise<boolean> =>
  page
    .waitForFunction((key) => (window as unknown as CatchUpWindow).booksKey((window as unknown as CatchUpWindow).books) === key, app.key(), { polling: 50, timeout })
    .then(
      () => true,
      () => false,
    );

/** Page time since when the list has equalled `key` for good; null when it does not now. */
function equalSince(renders: CatchUpRecord['renders'], key: string): number | null {
  if (renders.at(-1)?.key !== key) return null;
  let first = renders.length - 1;
  while (first > 0 && renders[first - 1]!.key === key) first--;
  return renders[first]!.t;
}

/** What differs between the page's list and the truth, for failure messages. */
function diff(shown: Book[], truth: Book[]): string {
  const titles = new Map(shown.map((b) => [b.id, b.title]));
  const real = new Map(truth.map((b) => [b.id, b.title]));
  const problems = [
    ...truth.filter((b) => !titles.has(b.id)).map((b) => `missing ${b.id} "${b.title}"`),
    ...shown.filter((b) => !real.has(b.id)).map((b) => `deleted but shown ${b.id}`),
    ...truth.filter((b) => titles.has(b.id) && titles.get(b.id) !== b.title).map((b) => `${b.id} shows "${titles.get(b.id)}", is "${b.title}"`),
  ];
  return problems.join('; ') || 'none';
}

/** One line per GET /books the page sent since `from` (page time), relative to `origin`. */
const describeLoads = (loads: CatchUpRecord['loads'], origin: number): string =>
  loads
    .filter((l) => l.start >= origin - 1000)
    .map((l) => `GET at ${l.start - origin} ms → ${l.outcome}${l.end === null ? ' (still pending)' : ` after ${l.end - l.start} ms`}`)
    .join(', ') || 'no GET /books';

function note(type: string, description: string): void {
  console.log(`${type}: ${description}`);
  test.info().annotations.push({ type, description });
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens the page, waits until it is connected and shows the app's books, and — where the client
 * has it — until `subscribe()`'s `ready` resolved (its first refetch done, so later refetches
 * have a measured API latency to set their deadline from).
 */
async function open(page: Page, url: string, app: BooksApp): Promise<void> {
  await page.goto(url);
  await connected(page);
  expect(await becomesEqual(page, app, 5000), 'first paint').toBe(true);
  await page.waitForFunction(() => (window as unknown as CatchUpWindow).ready !== 'pending', undefined, { timeout: 10_000 });
}

/**
 * Waits until the page's connection is older than the contract's kick window, so that resetting
 * it is an ordinary loss and not a server kicking a client it just accepted.
 */
async function pastKickWindow(app: BooksApp): Promise<void> {
  const wait = app.lastAcceptedAt() + KICK_WINDOW_MS + 500 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

// ---- sleeping ---------------------------------------------------------------------------------

/** Suspends the renderer `pid` for SLEEP_MS (timers stop, sockets stay open), doing `whileAsleep` meanwhile. */
async function sleepPage(pid: number, whileAsleep: () => Promise<void>): Promise<void> {
  suspended = pid;
  suspend(pid);
  try {
    await whileAsleep();
    await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the sleep itself
  } finally {
    resume(pid);
    suspended = null;
  }
}

/** The page's own record of the wake after its `seen`-th: its first timer tick after the renderer resumed. */
async function wakeAfter(page: Page, seen: number): Promise<{ at: number; slept: number }> {
  await page
    .waitForFunction(([n, ms]) => (window as unknown as CatchUpWindow).wakes.slice(n).some((w) => w.slept >= ms), [seen, SLEEP_MS - 500] as const, { polling: 50, timeout: 10_000 })
    .catch(() => {
      throw new Error('the page never noticed the sleep: was its renderer really suspended?');
    });
  return (await record(page)).wakes.slice(seen).find((w) => w.slept >= SLEEP_MS - 500)!;
}

/**
 * After a sleep: waits up to PATIENCE_MS for the page to equal the app, and returns the time from
 * the page's wake to the moment its list equalled the app's for good (null: still stale), with a
 * line describing what the page did.
 */
async function measureWake(page: Page, app: BooksApp, before: CatchUpRecord, label: string) {
  const wake = await wakeAfter(page, before.wakes.length);
  await becomesEqual(page, app, PATIENCE_MS);
  const after = await record(page);
  const since = equalSince(after.renders, app.key());
  const ms = since === null ? null : since - wake.at;
  const refetches = after.refetches.slice(before.refetches.length);
  const line =
    `${label}: ${ms === null ? `STALE ${PATIENCE_MS} ms after wake (${diff(after.books, app.books())})` : `wake→equal ${ms} ms (goal ≤ ${GOAL_WAKE_TO_EQUAL_MS})`}; ` +
    `refetches ${JSON.stringify(refetches.map((r) => `${r.reason}#${r.attempt ?? '?'}@${r.t - wake.at}ms`))}; ${describeLoads(after.loads.slice(before.loads.length), wake.at)}`;
  return { ms, refetches, line };
}

// ---- the cases ----------------------------------------------------------------------------------

test('1. first load races the first connection: a change committed after the first GET /books and before a slow handshake (700 ms io.use) reaches the page, in 3 of 3 loads', async ({
  page,
}) => {
  test.setTimeout(90_000);
  const app = await serve({ handshakeDelayMs: 700 });
  const commits = [
    { action: 'update', id: 1, title: 'Dune, revised' },
    { action: 'create', title: 'Solaris' },
    { action: 'destroy', id: 2 },
  ] as const;
  const loads: Array<{ load: number; equal: boolean; connectToEqualMs: number | null; reasons: string[]; ready: string; line: string }> = [];

  for (const [index, change] of commits.entries()) {
    const load = index + 1;
    const acceptedBefore = app.accepted();
    const firstAnswer = app.nextAnswer();
    await page.goto(app.url);
    await within(firstAnswer, 10_000, "the page's first-paint GET /books was never answered");
    await app.commit(change);
    // The precondition of the case: the change went out while this page's socket was not yet accepted.
    expect(app.accepted(), 'the socket was accepted before the change was broadcast: the handshake was not slow enough').toBe(acceptedBefore);

    await connected(page);
    await becomesEqual(page, app, 5000);
    await page.waitForFunction(() => (window as unknown as CatchUpWindow).ready !== 'pending', undefined, { timeout: 2000 }).catch(() => {});
    const after = await record(page);
    const connectedAt = after.states.find((s) => s.state === 'connected')!.t;
    const since = equalSince(after.renders, app.key()); // null unless the list (still) equals the truth
    const equal = since !== null;
    const reasons = after.refetches.map((r) => r.reason);
    const line = `load ${load} (${change.action}): ${since === null ? `STALE 5 s after connect (${diff(after.books, app.books())})` : `equal ${since - connectedAt} ms after connect`}; refetches ${JSON.stringify(reasons)}; ready ${after.ready}`;
    note('first load', line);
    loads.push({ load, equal, connectToEqualMs: since === null ? null : since - connectedAt, reasons, ready: after.ready, line });
  }

  expect(loads.filter((l) => !l.equal).map((l) => l.line), 'loads that stayed stale').toEqual([]);
  for (const l of loads) {
    expect(l.reasons, `load ${l.load}: a refetch when the subscription became live`).toContain('subscribed');
    expect(l.ready, `load ${l.load}: subscribe().ready resolved`).toBe('resolved');
  }
});

test('3. a failed refetch is retried: the API answers 503 for 2 s after the link came back; the page ends equal to the server, one refetch-failed per attempt', async ({ page }) => {
  const app = await serve();
  await open(page, app.url, app);
  const before = await record(page);

  // A forced gap, as a deploy restarting both would cause: every connection reset; from the
  // next GET /books on, the API answers 503 for 2 s.
  await pastKickWindow(app);
  app.outage(2000);
  const firstGet = app.nextAnswer();
  expect(app.resetConnections()).toBeGreaterThan(0);
  await expect.poll(() => app.connected()).toBe(0);
  await app.commit({ action: 'update', id: 2, title: 'Emma, committed during the outage' });
  expect(app.connected(), 'the change reached no page: only a refetch can bring it').toBe(0);

  const refused = await within(firstGet, 20_000, 'no GET /books within 20 s of the gap: the page never refetched');
  expect(refused.status).toBe(503);
  await becomesEqual(page, app, 12_000);
  const after = await record(page);
  const since = equalSince(after.renders, app.key());
  const equal = since !== null;
  const failed = after.errors.slice(before.errors.length).filter((e) => e.code === 'refetch-failed');
  const refetches = after.refetches.slice(before.refetches.length);
  const refusals = app.answers.filter((a) => a.status === 503);
  note(
    'failed refetch',
    `${equal ? `equal ${since! - refused.at} ms after the first 503` : `STALE 12 s after the first 503 (${diff(after.books, app.books())})`}; ` +
      `503s at ${JSON.stringify(refusals.map((a) => a.at - refused.at))} ms; refetches ${JSON.stringify(refetches.map((r) => `${r.reason}#${r.attempt ?? '?'}@${r.t - refused.at}ms`))}; ` +
      `refetch-failed attempts ${JSON.stringify(failed.map((e) => e.attempt))}`,
  );

  expect(equal, `page still stale 12 s after the API's first 503: ${diff(after.books, app.books())}`).toBe(true);
  // One refetch-failed per failed attempt, numbered from 1; the attempts of the cycle likewise.
  const attempts = refusals.map((_, i) => i + 1);
  expect(failed.map((e) => e.attempt)).toEqual(attempts);
  expect(refetches.map((r) => r.attempt)).toEqual([...attempts, attempts.length + 1]);
  // Backoff, not a retry storm: 1 s, 2 s… within a 2 s outage.
  expect(refusals.length).toBeLessThanOrEqual(5);
});

test('4. refetch after wake on a pooled HTTP connection that died in the sleep (backend keeps idle connections 75 s): the page equals the server soon after each of 5 sleeps', async ({
  page,
}) => {
  test.setTimeout(60_000 + SLEEPS * (SLEEP_MS + PATIENCE_MS + 3000));
  const app = await serve({ keepAliveTimeoutMs: 75_000 });
  const proxy = await proxyTo(app); // the whole origin: page, API and socket.io
  await open(page, proxy.url, app);
  const pid = await findRenderer(page);
  const measured: Array<number | null> = [];

  for (let sleep = 1; sleep <= SLEEPS; sleep++) {
    await connected(page, sleep);
    const before = await record(page);
    let silenced = { all: 0, webSockets: 0 };
    await sleepPage(pid, async () => {
      const webSockets = proxy.liveWebSockets();
      silenced = { all: proxy.blackhole(), webSockets };
      await app.commit({ action: 'update', id: 1, title: `Dune, changed during sleep ${sleep}` });
    });
    const { ms, line } = await measureWake(page, app, before, `sleep ${sleep} (${silenced.all} connections silenced, ${silenced.webSockets} WebSocket)`);
    note('dead pooled connection', line);
    measured.push(ms);
    // The precondition of the case: an idle keep-alive HTTP connection died along with the link.
    expect(silenced.all - silenced.webSockets, 'idle HTTP connections silenced').toBeGreaterThanOrEqual(1);
    expect(ms, line).not.toBeNull();
    expect(ms!, line).toBeLessThanOrEqual(BOUND_WAKE_TO_EQUAL_MS);
  }
  note('dead pooled connection, wake→equal ms', JSON.stringify(measured));
});

test('5. waking after the link was reset during the sleep (the browser sees a close): a local gap, refetched at once, in each of 5 sleeps', async ({ page }) => {
  test.setTimeout(60_000 + SLEEPS * (SLEEP_MS + PATIENCE_MS + 3000));
  const app = await serve();
  await open(page, app.url, app);
  const pid = await findRenderer(page);
  const measured: Array<number | null> = [];

  for (let sleep = 1; sleep <= SLEEPS; sleep++) {
    await connected(page, sleep);
    const before = await record(page);
    let reset = 0;
    await pastKickWindow(app);
    await sleepPage(pid, async () => {
      reset = app.resetConnections(); // a NAT or the server dropped them: RST, not silence
      await expect.poll(() => app.connected()).toBe(0);
      await app.commit({ action: 'update', id: 3, title: `Ubik, changed during sleep ${sleep}` });
    });
    const { ms, refetches, line } = await measureWake(page, app, before, `sleep ${sleep} (${reset} connections reset)`);
    note('reset during sleep', line);
    measured.push(ms);
    expect(ms, line).not.toBeNull();
    // Soft: today's client passes some sleeps by luck of its 0–5 s spread; every sleep's number is worth seeing.
    expect.soft(refetches.map((r) => r.reason), `${line}: a loss seen on wake is local`).toEqual(refetches.map(() => 'dead-link'));
    expect.soft(refetches.length, line).toBeGreaterThanOrEqual(1);
    expect.soft(ms!, line).toBeLessThanOrEqual(BOUND_WAKE_TO_EQUAL_MS);
  }
  note('reset during sleep, wake→equal ms', JSON.stringify(measured));
});

test('9. changes that arrive while a refetch is in flight are not lost to its older snapshot (README handler: the refetch replaces the list)', async ({ page, context }) => {
  const app = await serve();
  // What reached the page's socket.io link, over WebSocket or long-polling (the browser's view).
  const frames: string[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => void frames.push(String(payload))));
  page.on('response', (response) => {
    if (response.url().includes('/socket.io/') && response.request().method() === 'GET') response.text().then((body) => frames.push(body), () => {});
  });
  await open(page, app.url, app);
  const before = await record(page);

  // A gap (offline, then online): the refetch's GET /books takes its snapshot and is held there.
  const held = app.holdNextSnapshot();
  await context.setOffline(true);
  await page.waitForFunction(() => (window as unknown as CatchUpWindow).states.at(-1)?.state === 'offline');
  await context.setOffline(false);
  await within(held.taken, 15_000, 'no GET /books within 15 s of coming back online');

  // While the snapshot's answer is held: an update and a create, both delivered to the page's socket.
  const updated = await app.commit({ action: 'update', id: 1, title: 'Dune, updated during the refetch' });
  const created = await app.commit({ action: 'create', title: 'Solaris, created during the refetch' });
  const delivered = await expect
    .poll(() => [updated, created].every((b) => frames.some((f) => f.includes(b.title))), { timeout: 2000, intervals: [10] })
    .toBe(true)
    .then(
      () => true,
      () => false,
    );
  // A client that hands changes over at once (today's) has run the handler by now.
  await page
    .waitForFunction((ids) => ids.every((id) => (window as unknown as CatchUpWindow).handled.some((h) => h.id === id)), [updated.id, created.id], { timeout: 100, polling: 10 })
    .catch(() => {});
  held.release();

  // Settled: a refetch succeeded (until then the handler's own changes may make the list look right).
  await page.waitForFunction((n) => (window as unknown as CatchUpWindow).loads.slice(n).some((l) => l.outcome === 'ok'), before.loads.length, { timeout: 15_000 });
  await becomesEqual(page, app, 5000);
  const after = await record(page);
  const equal = equalSince(after.renders, app.key()) !== null;
  const heldLoad = after.loads[before.loads.length];
  const handled = after.handled.slice(before.handled.length).filter((h) => h.id === updated.id || h.id === created.id);
  note(
    'in-flight changes',
    `${equal ? 'equal' : `STALE 5 s after the snapshot was answered (${diff(after.books, app.books())})`}; frames seen before the answer: ${delivered}; ` +
      `handler ran ${JSON.stringify(handled.map((h) => `${h.action} ${h.id} @${heldLoad?.end == null ? '?' : h.t - heldLoad.end}ms from the held GET's end`))}; ` +
      `refetches ${JSON.stringify(after.refetches.slice(before.refetches.length).map((r) => r.reason))}; ${describeLoads(after.loads.slice(before.loads.length), heldLoad?.start ?? 0)}`,
  );

  expect(equal, `the older snapshot overwrote changes delivered during the refetch: ${diff(after.books, app.books())}`).toBe(true);
  // Hold-and-release: the changes reach the handler, in order, only once the GET /books they
  // arrived during has settled (answered and applied, or failed). At least once: a repeat is
  // allowed, the handler is idempotent by id.
  expect([...new Set(handled.map((h) => h.id))]).toEqual([updated.id, created.id]);
  for (const h of handled) expect(h.t, `${h.action} ${h.id} handed over after the GET it arrived during settled`).toBeGreaterThanOrEqual(heldLoad!.end!);
});
