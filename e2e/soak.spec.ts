// Reliability soak: random faults — a page offline, a bridge restart, a link that dies during a
// laptop sleep, a Redis restart — while a backend keeps changing books and announcing them. After
// each fault every page's list must equal the app's (GET /books): nothing lost, nothing
// duplicated. It runs twice: with the backend announcing through the bridge's change log
// (`FCALL lu_publish`: pages back from a gap are replayed what they missed) and with plain
// PUBLISH (no offsets: pages refetch after gaps). Bounded: SOAK_MS of cycling per run (37.5 s by
// default, 75 s for both); SOAK_SEED replays a run's faults (the same in both runs); SOAK_FAULTS
// (comma-separated) narrows the mix; SOAK_PUBLISH=log or plain runs one of the two.
//
// Pieces: a real redis-server (restarted on its port), the bridge as the CLI process (restarted
// on its port), the books app in this process (it owns the data, so restarts lose nothing), and
// three Chromium pages in separate contexts; the third reaches the bridge through a blackhole
// proxy so its link can go silent while its renderer is suspended.
import { test, expect, type BrowserContext, type Page } from '@playwright/test';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import { startBridgeProcess, health, type NodeProcess } from './fixtures/bridge-processes';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { startRestartableRedis, type RestartableRedis } from './fixtures/soak-redis';
import { startSoakApp, type SoakApp, type SoakBook, type SoakPublishing } from './fixtures/soak-app';
import { createSoakRandom, type SoakRandom } from './fixtures/soak-random';

const SOAK_MS = Number(process.env.SOAK_MS ?? 37_500);
const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** After a fault: how long every page may take to be connected again and equal to the app. */
const CONVERGE_MS = 30_000;

type Fault = 'offline' | 'restart' | 'sleep' | 'redis';
const ALL_FAULTS: readonly Fault[] = ['offline', 'restart', 'sleep', 'redis'];
/** SOAK_FAULTS=offline,redis narrows the mix (to isolate a divergence); all four by default. */
const FAULTS: readonly Fault[] = process.env.SOAK_FAULTS
  ? process.env.SOAK_FAULTS.split(',').map((name) => {
      if (!ALL_FAULTS.includes(name as Fault)) throw new Error(`SOAK_FAULTS: unknown fault "${name}" (known: ${ALL_FAULTS.join(', ')})`);
      return name as Fault;
    })
  : ALL_FAULTS;
const ALL_PUBLISHING: readonly SoakPublishing[] = ['log', 'plain'];
/** SOAK_PUBLISH=log (or plain) runs one of the two soaks. */
const PUBLISHING: readonly SoakPublishing[] = process.env.SOAK_PUBLISH
  ? process.env.SOAK_PUBLISH.split(',').map((name) => {
      if (!ALL_PUBLISHING.includes(name as SoakPublishing)) throw new Error(`SOAK_PUBLISH: unknown way "${name}" (known: ${ALL_PUBLISHING.join(', ')})`);
      return name as SoakPublishing;
    })
  : ALL_PUBLISHING;
const HOW: Record<SoakPublishing, string> = { log: 'through the change log (FCALL lu_publish)', plain: 'with plain PUBLISH' };

interface SoakWindow {
  live: { state: string };
  soak: { deliveries: number; duplicates: number[]; refetches: string[]; states: string[]; errors: string[]; loadErrors: string[] };
}

interface View {
  name: string;
  state: string;
  books: SoakBook[];
  duplicates: number[];
}

const teardown: Array<() => unknown> = [];
test.afterEach(async () => {
  for (const step of teardown.reverse()) await Promise.resolve(step()).catch((error: unknown) => console.warn('soak teardown:', error));
  teardown.length = 0;
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function view(name: string, page: Page): Promise<View> {
  return page.evaluate((name) => {
    const w = window as unknown as SoakWindow;
    const books = Array.from(document.querySelectorAll<HTMLLIElement>('#books li'), (li) => ({ id: Number(li.dataset.id), title: li.textContent ?? '' }));
    return { name, state: w.live.state, books, duplicates: [...w.soak.duplicates] };
  }, name);
}

/** What differs between a page's view and the app's books; empty when they agree. */
function diff(v: View, truth: SoakBook[]): string[] {
  const problems: string[] = [];
  const counts = new Map<number, number>();
  for (const book of v.books) counts.set(book.id, (counts.get(book.id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  if (twice.length) problems.push(`ids listed more than once: ${twice.join(', ')}`);
  if (v.duplicates.length) problems.push(`changes delivered more than once (seq): ${v.duplicates.join(', ')}`);
  const shown = new Map(v.books.map((b) => [b.id, b.title]));
  const real = new Map(truth.map((b) => [b.id, b.title]));
  const missing = truth.filter((b) => !shown.has(b.id)).map((b) => b.id);
  const extra = v.books.filter((b) => !real.has(b.id)).map((b) => b.id);
  const stale = truth.filter((b) => shown.has(b.id) && shown.get(b.id) !== b.title).map((b) => `${b.id}: "${shown.get(b.id)}" ≠ "${b.title}"`);
  if (missing.length) problems.push(`missing: ${missing.join(', ')}`);
  if (extra.length) problems.push(`deleted but shown: ${extra.join(', ')}`);
  if (stale.length) problems.push(`stale titles: ${stale.join('; ')}`);
  if (v.state !== 'connected') problems.push(`state ${v.state}`);
  return problems;
}

/** Random POST/PATCH/DELETE /books every 50–150 ms while active, as users of the app would. */
function startPublisher(app: SoakApp, random: SoakRandom) {
  const ids: number[] = [];
  let active = false;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  let tried = 0;
  let failed = 0;
  let words = 0;
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    tried++;
    const response = await fetch(`${app.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch(() => undefined);
    if (!response || !response.ok) {
      failed++;
      throw new Error(`${method} ${path}: ${response?.status ?? 'no answer'}`);
    }
    return response;
  };
  const step = async (): Promise<void> => {
    const roll = random.next();
    const title = `t${++words}`;
    if (ids.length < 5 || (ids.length < 40 && roll < 0.45)) {
      const book = (await (await call('POST', '/books', { title })).json()) as SoakBook;
      ids.push(book.id);
    } else if (roll < 0.8) {
      await call('PATCH', `/books/${random.pick(ids)}`, { title });
    } else {
      const id = ids.splice(random.int(0, ids.length - 1), 1)[0]!;
      await call('DELETE', `/books/${id}`);
    }
  };
  const loop = (async () => {
    const initial = app.books();
    ids.push(...initial.map((b) => b.id));
    while (!stopped) {
      if (active) {
        current = step().catch(() => undefined);
        await current;
      }
      await sleep(random.int(50, 150));
    }
  })();
  return {
    resume: (): void => void (active = true),
    /** Stops publishing and waits for the change in flight. */
    async pause(): Promise<void> {
      active = false;
      await current;
    },
    async stop(): Promise<void> {
      stopped = true;
      active = false;
      await loop;
    },
    tried: () => tried,
    failed: () => failed,
  };
}

for (const publishing of PUBLISHING) test(`soak, changes announced ${HOW[publishing]}: random faults while changes are published; every page equals the app after each`, async ({ browser }, testInfo) => {
  test.setTimeout(SOAK_MS + 120_000);
  // Two streams, so the faults and their durations replay exactly whatever the publisher drew.
  const random = createSoakRandom(SEED);
  const publisherRandom = createSoakRandom(SEED ^ 0x5eed5eed);
  console.log(`soak (${publishing}): seed ${SEED} (SOAK_SEED=${SEED} replays the faults), faults ${FAULTS.join(', ')}, ${SOAK_MS} ms of cycling, changes announced ${HOW[publishing]}`);
  const started = Date.now();

  const redis: RestartableRedis = await startRestartableRedis();
  teardown.push(() => redis.stop('SIGKILL'));
  const app = await startSoakApp({ redisUrl: redis.url, publishing });
  teardown.push(() => app.close());
  let bridge: NodeProcess = await startBridgeProcess({ redisUrl: redis.url });
  const bridgePort = bridge.port;
  teardown.push(() => bridge.stop('SIGKILL'));
  const bridgeLogs: string[] = [];
  await expect.poll(async () => (await health(bridge.url)).redis).toBe('up');
  const proxy: BlackholeProxy = await startBlackholeProxy(bridgePort);
  teardown.push(() => proxy.close());

  const pageErrors: string[] = [];
  const pages: Array<{ name: string; page: Page; context: BrowserContext }> = [];
  for (const [name, bridgeUrl] of [
    ['direct-1', bridge.url],
    ['direct-2', bridge.url],
    ['sleeper', proxy.url],
  ] as const) {
    const context = await browser.newContext();
    teardown.push(() => context.close());
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
    await page.goto(`${app.url}/?bridge=${encodeURIComponent(bridgeUrl)}`);
    pages.push({ name, page, context });
  }
  const sleeper = pages[2]!;
  const renderer = await findRenderer(sleeper.page);
  let suspended = false;
  teardown.push(() => suspended && resume(renderer));

  const faults: Record<Fault, number> = { offline: 0, restart: 0, sleep: 0, redis: 0 };
  const divergences: string[] = [];
  const convergeTimes: number[] = [];
  let silenced = 0;

  /** Waits until every page is connected and shows exactly the app's books; a timeout is a divergence. */
  const converge = async (label: string): Promise<void> => {
    const from = Date.now();
    let problems: string[] = [];
    while (Date.now() - from < CONVERGE_MS) {
      const truth = app.books();
      const views = await Promise.all(pages.map(({ name, page }) => view(name, page)));
      problems = views.flatMap((v) => diff(v, truth).map((p) => `${v.name}: ${p}`));
      if (problems.length === 0) {
        convergeTimes.push(Date.now() - from);
        return;
      }
      await sleep(100);
    }
    const records = await Promise.all(
      pages.map(async ({ name, page }) => {
        const soak = await page.evaluate(() => (window as unknown as SoakWindow).soak);
        return `${name}: states …${soak.states.slice(-6).join(' ')} | refetches …${soak.refetches.slice(-4).join(' ')} | errors …${soak.errors.slice(-3).join(' | ')}`;
      }),
    );
    // Not a pass: but how long the divergence lasts tells a slow recovery from a lost change.
    let healed = 'not within 60 s more';
    const more = Date.now();
    while (Date.now() - more < 60_000) {
      const truth = app.books();
      const views = await Promise.all(pages.map(({ name, page }) => view(name, page)));
      if (views.every((v) => diff(v, truth).length === 0)) {
        healed = `healed ${Date.now() - from} ms after the fault`;
        break;
      }
      await sleep(250);
    }
    const proxyState = `proxy: ${proxy.accepted()} accepted, ${proxy.live()} forwarding, ${silenced} silenced so far`;
    divergences.push(`${label}, after ${CONVERGE_MS} ms (${healed}; ${proxyState}):\n  ${problems.join('\n  ')}\n  ${records.join('\n  ')}`);
  };

  await converge('start');
  expect(divergences, 'the pages did not even agree with the app before any fault').toEqual([]);
  const publisher = startPublisher(app, publisherRandom);
  teardown.push(() => publisher.stop());

  const inject = async (fault: Fault): Promise<string> => {
    switch (fault) {
      case 'offline': {
        const chosen = random.next() < 0.3 ? pages : [random.pick(pages)];
        const ms = random.int(500, 3000);
        await Promise.all(chosen.map(({ context }) => context.setOffline(true)));
        await sleep(ms);
        await Promise.all(chosen.map(({ context }) => context.setOffline(false)));
        return `${chosen.map((p) => p.name).join('+')} offline ${ms} ms`;
      }
      case 'restart': {
        const signal = random.pick(['SIGTERM', 'SIGKILL'] as const);
        const down = random.int(200, 2000);
        // One deploy restarts both: the app's API answers 503 for a while after the bridge is back.
        const unavailable = random.int(500, 3000);
        await bridge.stop(signal);
        bridgeLogs.push(bridge.output());
        await sleep(down);
        app.unavailableFor(unavailable);
        bridge = await startBridgeProcess({ redisUrl: redis.url, port: bridgePort });
        return `bridge ${signal}, down ${down} ms, API 503 for ${unavailable} ms`;
      }
      case 'sleep': {
        const ms = random.int(2500, 5000);
        suspend(renderer);
        suspended = true;
        const count = proxy.blackhole();
        silenced += count;
        await sleep(ms);
        resume(renderer);
        suspended = false;
        return `sleeper slept ${ms} ms, ${count} link(s) silenced`;
      }
      case 'redis': {
        const signal = random.pick(['SIGTERM', 'SIGKILL'] as const);
        const down = random.int(200, 2000);
        await redis.stop(signal);
        await sleep(down);
        await redis.start();
        return `redis ${signal}, down ${down} ms`;
      }
    }
  };

  const deadline = Date.now() + SOAK_MS;
  let bag: Fault[] = [];
  let cycles = 0;
  while (Date.now() < deadline) {
    // Every fault once per round, in a random order.
    if (bag.length === 0) bag = random.shuffle([...FAULTS]);
    const fault = bag.pop()!;
    cycles++;
    publisher.resume();
    await sleep(random.int(200, 1000));
    const what = await inject(fault);
    faults[fault]++;
    await sleep(random.int(200, 1000));
    await publisher.pause();
    const before = divergences.length;
    await converge(`cycle ${cycles} (${what})`);
    console.log(`soak #${cycles} ${fault}: ${what}; ${divergences.length > before ? 'DIVERGED' : `converged in ${convergeTimes.at(-1)} ms`}`);
    // One divergence fails the run; stopping here keeps the test within its time bound.
    if (divergences.length > before) break;
  }
  await publisher.stop();

  const records = await Promise.all(pages.map(({ page }) => page.evaluate(() => (window as unknown as SoakWindow).soak)));
  const refetches: Record<string, number> = {};
  for (const reason of records.flatMap((r) => r.refetches)) refetches[reason] = (refetches[reason] ?? 0) + 1;
  const errorCodes: Record<string, number> = {};
  for (const error of records.flatMap((r) => r.errors)) {
    const code = error.split(':')[0]!;
    errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  }
  const counts = app.counts();
  /** Gaps the change log covered entirely (state reason 'replayed': nothing refetched), over all pages. */
  const replayed = records.flatMap((r) => r.states).filter((s) => s === 'connected:replayed').length;
  const summary =
    `soak (${publishing}): ${cycles} cycles, faults {offline: ${faults.offline}, restart: ${faults.restart}, sleep: ${faults.sleep}, redis: ${faults.redis}}, ` +
    `${publisher.tried()} changes published (${counts.failed} failed while down, ${counts.intoTheVoid} into the void, ${publisher.failed()} API errors), ` +
    `gaps replayed ${replayed}, divergences ${divergences.length}`;
  const details =
    `soak details: seed ${SEED}, wall ${Math.round((Date.now() - started) / 1000)} s, deliveries ${records.map((r) => r.deliveries).join('/')}, ` +
    `links silenced ${silenced}, refetches ${JSON.stringify(refetches)}, errors ${JSON.stringify(errorCodes)}, ` +
    `converged in max ${Math.max(...convergeTimes)} ms (median ${convergeTimes.sort((a, b) => a - b)[Math.floor(convergeTimes.length / 2)]} ms)`;
  console.log(summary);
  console.log(details);
  testInfo.annotations.push({ type: 'soak', description: summary }, { type: 'soak details', description: details });
  await testInfo.attach('soak-summary.txt', { body: `${summary}\n${details}\n${divergences.join('\n')}\n`, contentType: 'text/plain' });

  expect(divergences, `seed ${SEED}; bridge output:\n${[...bridgeLogs, bridge.output()].join('\n---\n').slice(-4000)}`).toEqual([]);
  expect(cycles).toBeGreaterThanOrEqual(FAULTS.length);
  // Through the log, gaps are caught up by replay, except after a Redis restart (the log is lost).
  // With plain PUBLISH replays are refused once a change went by; a gap with none in it may still
  // be covered, so that count is only reported.
  if (publishing === 'log' && FAULTS.some((fault) => fault !== 'redis')) expect(replayed, 'gaps the log covered').toBeGreaterThan(0);
  // Malformed messages or throwing handlers would be bugs; connect errors, kicks (a bridge that
  // stops right after a page connected) and refetches that failed mid-fault (the API's 503s) are
  // the faults themselves, and the lists converged anyway.
  expect(records.flatMap((r) => r.errors).filter((e) => !/^(connect-error|kicked|refetch-failed):/.test(e))).toEqual([]);
  expect(pageErrors).toEqual([]);
});
