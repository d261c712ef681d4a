// Replay from the change log, end to end: the bridge as operators run it (`live-updates-bridge`
// processes) on a real redis-server, the script tag in Debian's Chromium, changes published
// through the log the way backends do (`FCALL lu_publish 0 '<json>'`, here from node-redis, or
// `live-updates-bridge publish`). A page back from a gap must be handed every change it missed,
// in order and once, without a refetch (its state reason 'replayed'); only what the log cannot
// cover (trimmed by length or age, lost with a FLUSHALL) is refetched, and only that resource.
// The page (fixtures/replay-app.ts) counts its refetches by resource and reason, and the app
// counts the API GETs they send: 'subscribed' loads are expected once per resource, at start.
import { test, expect, type Page } from '@playwright/test';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { health, publishWithCli, startBridgeProcess, type NodeProcess } from './fixtures/bridge-processes';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { startReplayApp, type ReplayApp, type ReplayRecord, type ReplayWindow } from './fixtures/replay-app';
import { startSwitchProxy, type SwitchProxy } from './fixtures/switch-proxy';
import { KICK_WINDOW_MS } from '../src/reconnect-policy';

/** A modelled laptop sleep: well past the client's 2 s wake threshold. */
const SLEEP_MS = 4000;

const redis = useRedisPerFile();
const teardowns: Array<() => Promise<unknown>> = [];
let suspended: number | null = null;

test.afterEach(async ({ page }) => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  await page.close();
  // Last started, first stopped: proxies before the bridges behind them.
  for (const teardown of teardowns.splice(0).reverse()) await teardown();
});

async function bridge(options: { port?: number; args?: string[] } = {}): Promise<NodeProcess> {
  const proc = await startBridgeProcess({ redisUrl: redis().url, ...options });
  teardowns.push(() => proc.stop('SIGKILL'));
  return proc;
}

async function app(): Promise<ReplayApp> {
  const made = await startReplayApp();
  teardowns.push(() => made.close());
  return made;
}

async function blackhole(port: number): Promise<BlackholeProxy> {
  const proxy = await startBlackholeProxy(port);
  teardowns.push(() => proxy.close());
  return proxy;
}

async function switchTo(port: number): Promise<SwitchProxy> {
  const proxy = await startSwitchProxy(port);
  teardowns.push(() => proxy.close());
  return proxy;
}

const update = (resource: string, id: number) => ({ resource, action: 'update' as const, id, obj: { id, title: `${resource} ${id}` } });

/** `FCALL lu_publish 0 '<json>'`, as any backend with a Redis client sends it; resolves with [epoch, offset]. */
async function publish(change: object): Promise<[string, number]> {
  const [epoch, offset] = (await redis().client.sendCommand(['FCALL', 'lu_publish', '0', JSON.stringify(change)])) as [string, number];
  return [String(epoch), Number(offset)];
}

const record = (page: Page): Promise<ReplayRecord> => page.evaluate(() => (window as unknown as ReplayWindow).replay);
const idsOf = (r: ReplayRecord, resource: string): Array<string | number> => r.changes.filter((c) => c.resource === resource).map((c) => c.id);
const reasonsOf = (list: ReplayRecord['refetches']): string[] => list.map((l) => `${l.resource}:${l.reason}`).sort();
/** Errors other than the failed attempts to reach a bridge that is down (those are the gap itself). */
const unexpectedErrors = (r: ReplayRecord): string[] => r.errors.filter((e) => !e.startsWith('connect-error:'));

/** What the page did, for failure messages. */
const describe = (r: ReplayRecord): string =>
  `states ${JSON.stringify(r.states.map((s) => `${s.state}:${s.reason}`))}; changes ${JSON.stringify(r.changes.map((c) => `${c.resource}:${c.id}@${c.offset}`))}; ` +
  `loads ${JSON.stringify(reasonsOf(r.loads))}; refetches ${JSON.stringify(reasonsOf(r.refetches))}; errors ${JSON.stringify(r.errors)}`;

/** Waits (15 s at most) until `predicate` holds in the page; a timeout fails with `what` and the page's record. */
async function until<A>(page: Page, what: string, predicate: (arg: A) => boolean, arg: A, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(predicate as (arg: unknown) => boolean, arg as unknown, { polling: 50, timeout });
  } catch (error) {
    throw new Error(`${what}: not within ${timeout} ms (${String(error).split('\n')[0]})\n${describe(await record(page))}`);
  }
}

/** Opens the page and waits until it is connected and each resource's first load is done. */
async function open(page: Page, made: ReplayApp, bridgeUrl: string, resources: string[]): Promise<void> {
  await page.goto(made.pageUrl(bridgeUrl, resources));
  await until(page, 'connected, each resource loaded once', (n) => {
    const { states, loads } = (window as unknown as ReplayWindow).replay;
    return states.at(-1)?.state === 'connected' && loads.length === n;
  }, resources.length);
  await expect.poll(() => Object.values(made.gets()).reduce((a, b) => a + b, 0)).toBe(resources.length);
}

/** Waits until the page was handed `count` changes in all. */
const changesSeen = (page: Page, count: number): Promise<void> =>
  until(page, `${count} changes handed to the page`, (n) => (window as unknown as ReplayWindow).replay.changes.length >= n, count);

/** Waits until a state with `reason` is recorded after the first `from` states; returns it. */
async function stateAfter(page: Page, from: number, reason: string): Promise<{ state: string; reason: string; t: number }> {
  await until(page, `state reason '${reason}'`, ([n, why]) => (window as unknown as ReplayWindow).replay.states.slice(n).some((s) => s.reason === why), [from, reason] as const);
  return (await record(page)).states.slice(from).find((s) => s.reason === reason)!;
}

/** Waits until the page is not connected any more (it noticed the gap). */
const disconnected = (page: Page): Promise<void> =>
  until(page, 'the page noticed the gap', () => (window as unknown as ReplayWindow).replay.states.at(-1)?.state !== 'connected', undefined);

/**
 * Waits until the page's connection is older than the reconnect policy's kick window: a connection
 * ended sooner is taken for a server kicking its client (its reload is held back), which is not
 * the case under test. A wait on the page's own clock, not on an event.
 */
const pastKickWindow = (page: Page): Promise<void> =>
  until(
    page,
    'the connection outlived the kick window',
    (ms) => {
      const connected = (window as unknown as ReplayWindow).replay.states.filter((s) => s.state === 'connected').at(-1);
      return connected !== undefined && Date.now() - connected.t > ms;
    },
    KICK_WINDOW_MS + 300,
  );

function measured(description: string): void {
  console.log(`${test.info().title.split(':')[0]}: ${description}`);
  test.info().annotations.push({ type: 'measured', description });
}

// ---- 1. a bridge restart ------------------------------------------------------------------------

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`1. bridge restart (${signal}, same port): every change published through the log meanwhile is replayed, in order, with no refetch`, async ({ page }) => {
    const first = await bridge();
    const made = await app();
    await open(page, made, first.url, ['books']);
    const [epoch] = await publish(update('books', 1));
    await changesSeen(page, 1);
    await pastKickWindow(page);
    const from = (await record(page)).states.length;

    expect(await first.stop(signal)).toBe(signal === 'SIGTERM' ? 0 : null);
    await disconnected(page);
    const missed = [2, 3, 4, 5, 6, 7, 8];
    for (const id of missed) await publish(update('books', id));
    const second = await bridge({ port: first.port });
    const startedAt = Date.now();
    const replayed = await stateAfter(page, from, 'replayed');

    const after = await record(page);
    const gap = after.states.slice(from).map((s) => `${s.state}:${s.reason}`);
    measured(`${missed.length} changes replayed ${replayed.t - startedAt} ms after the new process listened; states ${JSON.stringify(gap)}; refetches ${JSON.stringify(reasonsOf(after.refetches))}; API GETs ${JSON.stringify(made.gets())}`);
    expect(idsOf(after, 'books')).toEqual([1, ...missed]);
    expect(after.changes.map((c) => c.offset)).toEqual([1, ...missed.map((_, i) => i + 2)]);
    expect(new Set(after.changes.map((c) => c.epoch))).toEqual(new Set([epoch]));
    expect(gap[0]).toBe(signal === 'SIGTERM' ? 'reconnecting:server-disconnect' : 'reconnecting:transport-close');
    expect(gap.at(-1)).toBe('connected:replayed');
    expect(after.refetches).toEqual([]);
    expect(reasonsOf(after.loads)).toEqual(['books:subscribed']);

    // Live again on the new process; still nothing refetched, by the page or at the API.
    await publish(update('books', 9));
    await changesSeen(page, missed.length + 2);
    const end = await record(page);
    expect(idsOf(end, 'books')).toEqual([1, ...missed, 9]);
    expect(end.refetches).toEqual([]);
    expect(made.gets()).toEqual({ 'books:subscribed': 1 });
    expect(unexpectedErrors(end)).toEqual([]);
    expect(second.output()).not.toMatch(/uncaught|unhandled/i);
  });
}

// ---- 2. a link that dies during a sleep -----------------------------------------------------------

test('2. a link that dies during a real sleep (renderer SIGSTOPped, connections blackholed): the changes published meanwhile are replayed on wake, in order, with no refetch', async ({ page }) => {
  const proc = await bridge();
  const proxy = await blackhole(proc.port);
  const made = await app();
  await open(page, made, proxy.url, ['books']);
  await publish(update('books', 1));
  await changesSeen(page, 1);
  const pid = await findRenderer(page);
  await pastKickWindow(page);
  const before = await record(page);
  const acceptedBefore = proxy.accepted();

  suspended = pid;
  suspend(pid);
  const silenced = proxy.blackhole();
  const missed = [2, 3, 4, 5, 6];
  for (const id of missed) await publish(update('books', id));
  await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the sleep itself
  resume(pid);
  suspended = null;
  const resumedAt = Date.now();

  const replayed = await stateAfter(page, before.states.length, 'replayed');
  const after = await record(page);
  const wake = after.wakes.slice(before.wakes.length).find((w) => w.slept >= SLEEP_MS - 500);
  const gap = after.states.slice(before.states.length).map((s) => `${s.state}:${s.reason}`);
  measured(
    `slept ${wake?.slept ?? '?'} ms with ${silenced} connection(s) silenced; ${missed.length} changes replayed ${replayed.t - (wake?.at ?? resumedAt)} ms after wake; ` +
      `states ${JSON.stringify(gap)}; refetches ${JSON.stringify(reasonsOf(after.refetches))}; API GETs ${JSON.stringify(made.gets())}`,
  );
  expect(wake, 'the page noticed its sleep').toBeDefined();
  expect(silenced).toBeGreaterThanOrEqual(1);
  expect(proxy.accepted(), 'a new connection after the wake').toBeGreaterThan(acceptedBefore);
  expect(gap).toContain('reconnecting:dead-link');
  expect(gap.at(-1)).toBe('connected:replayed');
  expect(idsOf(after, 'books')).toEqual([1, ...missed]);
  expect(after.changes.map((c) => c.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(after.refetches).toEqual([]);

  await publish(update('books', 7));
  await changesSeen(page, 7);
  const end = await record(page);
  expect(idsOf(end, 'books')).toEqual([1, ...missed, 7]);
  expect(end.refetches).toEqual([]);
  expect(made.gets()).toEqual({ 'books:subscribed': 1 });
  expect(unexpectedErrors(end)).toEqual([]);
});

// ---- 3. gaps the log cannot cover ---------------------------------------------------------------

/** Stops `proc` (SIGTERM), runs `duringGap` while the page is away, starts the bridge again on its port with `args`. */
async function restartAround(page: Page, proc: NodeProcess, args: string[], duringGap: () => Promise<void>): Promise<{ from: number; again: NodeProcess }> {
  await pastKickWindow(page);
  const from = (await record(page)).states.length;
  expect(await proc.stop('SIGTERM')).toBe(0);
  await disconnected(page);
  await duringGap();
  const again = await bridge({ port: proc.port, args });
  return { from, again };
}

/** Waits until the app answered these refetch GETs (beyond the start's loads). */
const refetchedAtApi = (made: ReplayApp, expected: Record<string, number>): Promise<void> =>
  expect.poll(() => Object.fromEntries(Object.entries(made.gets()).filter(([key]) => !key.endsWith(':subscribed')))).toEqual(expected);

test('3a. a gap longer than the log (--log-max-length 3, 5 changes missed) refetches that resource only; the other resource, 2 changes missed, is replayed', async ({ page }) => {
  const args = ['--log-max-length', '3'];
  const proc = await bridge({ args });
  const made = await app();
  await open(page, made, proc.url, ['books', 'authors']);
  await publish(update('books', 1));
  await publish(update('authors', 1));
  await changesSeen(page, 2);

  const { from } = await restartAround(page, proc, args, async () => {
    for (const id of [2, 3, 4, 5, 6]) await publish(update('books', id));
    for (const id of [2, 3]) await publish(update('authors', id));
  });
  await refetchedAtApi(made, { 'books:server-disconnect': 1 });
  await changesSeen(page, 4);
  // Live again on both; the marker comes after anything the gap could still bring.
  await publish(update('books', 7));
  await publish(update('authors', 4));
  await changesSeen(page, 6);

  const after = await record(page);
  const gap = after.states.slice(from).map((s) => `${s.state}:${s.reason}`);
  measured(`books (5 missed > 3) refetched, authors (2 missed) replayed; states ${JSON.stringify(gap)}; refetches ${JSON.stringify(reasonsOf(after.refetches))}; API GETs ${JSON.stringify(made.gets())}`);
  expect(idsOf(after, 'authors')).toEqual([1, 2, 3, 4]);
  expect(idsOf(after, 'books')).toEqual([1, 7]); // 2–6 came with the refetch, not as changes
  expect(after.changes.filter((c) => c.resource === 'books').map((c) => c.offset)).toEqual([1, 7]);
  expect(reasonsOf(after.refetches)).toEqual(['books:server-disconnect']);
  expect(reasonsOf(after.loads)).toEqual(['authors:subscribed', 'books:subscribed']);
  expect(made.gets()).toEqual({ 'authors:subscribed': 1, 'books:server-disconnect': 1, 'books:subscribed': 1 });
  expect(gap).not.toContain('connected:replayed'); // part of the gap was reloaded
  expect(gap).toContain('connected:reconnected');
  expect(unexpectedErrors(after)).toEqual([]);
});

test('3b. a gap older than the log (--log-max-age 1000, the page away until the missed changes expired) refetches that resource only; the other resource, nothing missed, is not refetched', async ({ page }) => {
  const args = ['--log-max-age', '1000'];
  const proc = await bridge({ args });
  const made = await app();
  await open(page, made, proc.url, ['books', 'authors']);
  await publish(update('books', 1));
  await changesSeen(page, 1);

  let away = 0;
  const { from } = await restartAround(page, proc, args, async () => {
    await publish(update('books', 2));
    const publishedAt = Date.now();
    await publish(update('books', 3));
    // The log's stream of books expires maxAge after its last change: gone, the gap is too old.
    await expect.poll(() => redis().client.exists('lu:log:s:5:books'), { intervals: [100] }).toBe(0);
    away = Date.now() - publishedAt;
  });
  await refetchedAtApi(made, { 'books:server-disconnect': 1 });
  await publish(update('books', 4));
  await publish(update('authors', 1));
  await changesSeen(page, 3);

  const after = await record(page);
  const gap = after.states.slice(from).map((s) => `${s.state}:${s.reason}`);
  measured(`books changes ${away} ms old at the reconnect (max age 1000 ms): refetched; authors covered; states ${JSON.stringify(gap)}; refetches ${JSON.stringify(reasonsOf(after.refetches))}; API GETs ${JSON.stringify(made.gets())}`);
  expect(away).toBeGreaterThanOrEqual(1000);
  expect(idsOf(after, 'books')).toEqual([1, 4]);
  expect(idsOf(after, 'authors')).toEqual([1]);
  expect(reasonsOf(after.refetches)).toEqual(['books:server-disconnect']);
  expect(made.gets()).toEqual({ 'authors:subscribed': 1, 'books:server-disconnect': 1, 'books:subscribed': 1 });
  expect(gap).not.toContain('connected:replayed');
  expect(unexpectedErrors(after)).toEqual([]);
});

test('3c. a Redis FLUSHALL during the gap (the log lost, a new epoch) refetches every resource; the next gap is replayed in the new epoch', async ({ page }) => {
  const proc = await bridge();
  const made = await app();
  await open(page, made, proc.url, ['books', 'authors']);
  const [oldEpoch] = await publish(update('books', 1));
  await publish(update('authors', 1));
  await changesSeen(page, 2);

  let newEpoch = '';
  const first = await restartAround(page, proc, [], async () => {
    await redis().client.flushAll();
    [newEpoch] = await publish(update('books', 2));
  });
  await refetchedAtApi(made, { 'authors:server-disconnect': 1, 'books:server-disconnect': 1 });
  await publish(update('books', 3));
  await changesSeen(page, 3);
  const afterFlush = await record(page);
  const flushGap = afterFlush.states.slice(first.from).map((s) => `${s.state}:${s.reason}`);
  expect(newEpoch).not.toBe(oldEpoch);
  expect(idsOf(afterFlush, 'books')).toEqual([1, 3]); // 2 came in the new epoch: reloaded, not replayed
  expect(afterFlush.changes.at(-1)).toMatchObject({ id: 3, offset: 2, epoch: newEpoch });
  expect(reasonsOf(afterFlush.refetches)).toEqual(['authors:server-disconnect', 'books:server-disconnect']);
  expect(flushGap).not.toContain('connected:replayed');

  // The page took the new epoch's positions from the greeting: the next gap is replayed.
  const second = await restartAround(page, first.again, [], async () => {
    await publish(update('books', 4));
    await publish(update('authors', 2));
  });
  await stateAfter(page, second.from, 'replayed');
  const end = await record(page);
  measured(
    `after FLUSHALL: states ${JSON.stringify(flushGap)}, refetches ${JSON.stringify(reasonsOf(afterFlush.refetches))}; ` +
      `next gap: states ${JSON.stringify(end.states.slice(second.from).map((s) => `${s.state}:${s.reason}`))}; API GETs ${JSON.stringify(made.gets())}`,
  );
  expect(idsOf(end, 'books')).toEqual([1, 3, 4]);
  expect(idsOf(end, 'authors')).toEqual([1, 2]);
  expect(end.refetches).toEqual(afterFlush.refetches);
  expect(made.gets()).toEqual({ 'authors:server-disconnect': 1, 'authors:subscribed': 1, 'books:server-disconnect': 1, 'books:subscribed': 1 });
  expect(unexpectedErrors(end)).toEqual([]);
});

// ---- 4. two processes, one log -------------------------------------------------------------------

test('4. two bridge processes on one Redis replay the same log to a page that moves between them behind a switch', async ({ page }) => {
  const a = await bridge();
  const b = await bridge();
  const front = await switchTo(a.port);
  const made = await app();
  await open(page, made, front.url, ['books']);
  await expect.poll(async () => [(await health(a.url)).clients, (await health(b.url)).clients]).toEqual([1, 0]);
  await publish(update('books', 1));
  await changesSeen(page, 1);

  /** Cuts the page off, publishes while it is away (the CLI, then FCALL), lets it back in through `to`. */
  const move = async (to: NodeProcess, ids: [number, number]): Promise<number> => {
    await pastKickWindow(page);
    const from = (await record(page)).states.length;
    front.point(null);
    expect(front.drop()).toBeGreaterThanOrEqual(1);
    await disconnected(page);
    await publishWithCli({ redisUrl: redis().url, change: update('books', ids[0]) });
    await publish(update('books', ids[1]));
    front.point(to.port);
    const replayed = await stateAfter(page, from, 'replayed');
    await expect.poll(async () => (await health(to.url)).clients).toBe(1);
    return replayed.t;
  };
  await move(b, [2, 3]);
  await expect.poll(async () => (await health(a.url)).clients).toBe(0);
  const onB = await record(page);
  expect(idsOf(onB, 'books')).toEqual([1, 2, 3]);
  await move(a, [4, 5]);
  await expect.poll(async () => (await health(b.url)).clients).toBe(0);
  await publish(update('books', 6));
  await changesSeen(page, 6);

  const end = await record(page);
  measured(`page moved a → b → a, 2 changes replayed by each; states ${JSON.stringify(end.states.map((s) => `${s.state}:${s.reason}`))}; refetches ${JSON.stringify(reasonsOf(end.refetches))}; API GETs ${JSON.stringify(made.gets())}; switch refused ${front.refused()} attempts`);
  expect(idsOf(end, 'books')).toEqual([1, 2, 3, 4, 5, 6]);
  expect(end.changes.map((c) => c.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(new Set(end.changes.map((c) => c.epoch)).size).toBe(1);
  expect(end.states.filter((s) => s.reason === 'replayed')).toHaveLength(2);
  expect(end.refetches).toEqual([]);
  expect(made.gets()).toEqual({ 'books:subscribed': 1 });
  expect(unexpectedErrors(end)).toEqual([]);
});
