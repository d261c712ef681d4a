// The browser client — the script tag, live-updates.global.js, built from src/ by the rollup
// config's own entry (e2e/global-setup.ts) — against a plain socket.io v4 + Redis server written
// the way tutorials write theirs, in Debian's Chromium. Changes enter through Redis PUBLISH, as a
// backend would send them.
import { test, expect, type Page } from '@playwright/test';
import { startBlackholeProxy, type BlackholeProxy } from './fixtures/blackhole-proxy';
import type { PageRecord, PageWindow } from './fixtures/page';
import { useRedisPerFile } from './fixtures/redis-per-file';
import { findRenderer, resume, suspend } from './fixtures/renderer';
import { startTutorialServer, type TutorialServer, type TutorialServerOptions } from './fixtures/tutorial-server';

/** The product requirement: after a wake, the refetch starts within this bound. */
const WAKE_TO_REFETCH_MS = 1000;
/** How long the modelled laptop sleep lasts: well past the client's 2 s wake threshold. */
const SLEEP_MS = 4000;

const redis = useRedisPerFile();
let servers: TutorialServer[] = [];
let proxies: BlackholeProxy[] = [];
let suspended: number | null = null;

test.afterEach(async ({ page }) => {
  if (suspended !== null) resume(suspended);
  suspended = null;
  await test.step('close the page', () => page.close());
  // Proxies first: a frozen connection would hold the server's close() until its ping timeout.
  await test.step('close proxies', () => Promise.all(proxies.map((proxy) => proxy.close())));
  await test.step('stop servers', () => Promise.all(servers.map((server) => server.stop())));
  servers = [];
  proxies = [];
});

async function serve(options: Partial<TutorialServerOptions> = {}): Promise<TutorialServer> {
  const server = await startTutorialServer({ redisUrl: redis().url, ...options });
  servers.push(server);
  return server;
}

async function proxyTo(server: TutorialServer): Promise<BlackholeProxy> {
  const proxy = await startBlackholeProxy(server.port);
  proxies.push(proxy);
  return proxy;
}

/** A snapshot of what the page recorded. */
const record = (page: Page): Promise<PageRecord> =>
  page.evaluate(() => {
    const { log, refetches, loads, versions, errors, states, wakes, baseline } = window as unknown as PageWindow;
    return { log, refetches, loads, versions, errors, states, wakes, baseline };
  });

/** Waits until the page has been 'connected' `times` times and is connected now. */
async function connected(page: Page, times = 1): Promise<void> {
  await page.waitForFunction((n) => {
    const states = (window as unknown as PageWindow).states;
    return states.filter((s) => s.state === 'connected').length >= n && states.at(-1)?.state === 'connected';
  }, times);
}

const change = (id: string | number, resource = 'books', action = 'update') => JSON.stringify({ resource, action, id, obj: { id } });

let markers = 0;
/**
 * Publishes a change and waits until the page's handler has it: everything the server sent the
 * page before it has been handled too (one ordered link).
 */
async function sync(page: Page): Promise<void> {
  const id = `marker-${++markers}`;
  await redis().publish('rt-change', change(id));
  await page.waitForFunction((id) => (window as unknown as PageWindow).log.some((c) => c.id === id), id);
}

/** Packets the server received on engine.io connection `conn`. */
const received = (server: TutorialServer, conn: string | undefined) => server.packets.filter((p) => p.conn === conn && p.direction === 'in').length;

test('routes 50 changes published to Redis to the subscribed handler, in order, objects and JSON strings alike', async ({ page }) => {
  const server = await serve();
  await page.goto(server.url);
  await connected(page);
  await page.evaluate(() => {
    (window as unknown as PageWindow).authors = [];
    (window as unknown as PageWindow).live.subscribe('authors', (c) => (window as unknown as PageWindow).authors.push(c.id));
  });

  for (let i = 0; i < 50; i++) {
    // Every fifth change goes out as a raw JSON string, the way Ruby and PHP emitters send it.
    if (i % 5 === 4) await redis().publish('rt-change-raw', change(i));
    else await redis().publish('rt-change', change(i));
    if (i % 10 === 0) await redis().publish('rt-change', change(`a${i}`, 'authors', 'create'));
    if (i % 10 === 5) await redis().publish('rt-change', change(`o${i}`, 'orders', 'destroy'));
  }

  await page.waitForFunction(() => (window as unknown as PageWindow).log.length >= 50);
  const { log, errors } = await record(page);
  expect(log.map((c) => c.id)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  expect(log.every((c) => c.resource === 'books' && c.action === 'update')).toBe(true);
  expect(log[4]).toEqual({ resource: 'books', action: 'update', id: 4, obj: { id: 4 } });
  expect(await page.evaluate(() => (window as unknown as PageWindow).authors)).toEqual(['a0', 'a10', 'a20', 'a30', 'a40']);
  expect(errors).toEqual([]);
});

test('drops malformed messages as invalid-message errors, throws nothing into the page, pollutes nothing, isolates throwing handlers', async ({ page }) => {
  const pageErrors: Error[] = [];
  page.on('pageerror', (error) => pageErrors.push(error));
  const server = await serve();
  await page.goto(server.url);
  await connected(page);
  await page.evaluate(() => {
    (window as unknown as PageWindow).second = [];
    (window as unknown as PageWindow).live.subscribe('books', () => {
      throw new Error('handler bug');
    });
    (window as unknown as PageWindow).live.subscribe('books', (c) => (window as unknown as PageWindow).second.push(c.id));
  });

  const invalid: Array<[channel: string, message: string]> = [
    ['rt-change-raw', '{"resource":"books","action":"create","id":1'], // not JSON
    ['rt-change-raw', '{"resource":"books","action":"explode","id":1}'],
    ['rt-change-raw', '{"resource":"books","action":"create"}'], // no id
    ['rt-change-raw', '[{"resource":"books","action":"create","id":1}]'],
    ['rt-change-raw', '{"resource":"books","action":"create","id":1.5}'],
    ['rt-change-raw', '{"resource":"","action":"create","id":1}'],
    ['rt-change-raw', 'null'],
    ['rt-change', '[1,2,3]'],
    ['rt-change', '"a string that is not JSON"'],
    ['rt-change', '{"resource":"books","action":"update","id":{"$gt":""}}'],
  ];
  const validButHostile: Array<[string, string]> = [
    ['rt-change-raw', '{"resource":"__proto__","action":"create","id":1,"obj":{"polluted":true}}'],
    ['rt-change', '{"resource":"__proto__","action":"update","id":2,"polluted":true}'],
    ['rt-change', '{"resource":"constructor","action":"update","id":3,"prototype":{"polluted":true}}'],
    ['rt-change', '{"resource":"books","action":"update","id":"proto-key","__proto__":{"polluted":true}}'],
  ];
  // The tutorial server skips what it cannot JSON.parse: never reaches the page, never an error.
  await redis().publish('rt-change', '{{{ not json');
  for (const [channel, message] of [...invalid, ...validButHostile]) await redis().publish(channel, message);
  await redis().publish('rt-change', change('after-garbage', 'books', 'create'));

  await page.waitForFunction(() => (window as unknown as PageWindow).log.some((c) => c.id === 'after-garbage'));
  const { log, errors } = await record(page);
  expect(log.map((c) => c.id)).toEqual(['proto-key', 'after-garbage']);
  expect(errors.filter((e) => e.code === 'invalid-message')).toHaveLength(invalid.length);
  // The throwing handler is reported once per change it threw on, and the next handler still ran.
  expect(errors.filter((e) => e.code === 'handler-error')).toHaveLength(2);
  expect(errors.filter((e) => e.code !== 'invalid-message' && e.code !== 'handler-error')).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as PageWindow).second)).toEqual(['proto-key', 'after-garbage']);
  expect(await page.evaluate(() => ({ plain: ({} as Record<string, unknown>).polluted, proto: (Object.prototype as Record<string, unknown>).polluted }))).toEqual({
    plain: undefined,
    proto: undefined,
  });
  expect(pageErrors).toEqual([]);
});

test('announces a new deployed version once; the first one seen is the running one; rollbacks, repeats, null and empty are silent', async ({ page }) => {
  // Each re-announcement ends a connection the server accepted moments before: from the second in
  // a row the client takes these for kicks and backs off (up to reconnectionDelayMax, 5 s).
  test.setTimeout(120_000);
  await redis().client.set('frontend-app-version', 'v1');
  const server = await serve();
  await page.goto(server.url);
  await connected(page);
  let sent = 1;
  /** Reconnects the page (transport dropped by the server) and waits until it has heard the version again. */
  const reannounce = async (target: TutorialServer): Promise<void> => {
    target.dropTransports();
    await expect.poll(() => target.versionsSent()).toBeGreaterThanOrEqual(++sent);
    await sync(page);
  };
  await expect.poll(() => server.versionsSent()).toBe(1);
  await sync(page);
  expect(await page.evaluate(() => (window as unknown as PageWindow).live.version)).toBe('v1');
  expect((await record(page)).versions).toEqual([]);

  await redis().client.set('frontend-app-version', 'v2');
  await reannounce(server);
  expect((await record(page)).versions).toEqual([{ current: 'v1', latest: 'v2', required: false }]);

  await reannounce(server); // v2 again
  expect((await record(page)).versions).toHaveLength(1);

  // Rollback to the running version, announced by a restarted server.
  await redis().client.set('frontend-app-version', 'v1');
  await server.stop();
  const restarted = await serve({ port: server.port });
  sent = 1;
  await expect.poll(() => restarted.versionsSent()).toBe(1);
  await sync(page);
  expect((await record(page)).versions).toHaveLength(1);

  await redis().client.set('frontend-app-version', 'v2'); // already announced once
  await reannounce(restarted);
  await redis().client.del('frontend-app-version'); // GET answers null
  await reannounce(restarted);
  await redis().client.set('frontend-app-version', '');
  await reannounce(restarted);
  await redis().client.set('frontend-app-version', '   ');
  await reannounce(restarted);
  let current = await record(page);
  expect(current.versions).toHaveLength(1);
  expect(current.errors.filter((e) => e.code === 'invalid-version')).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as PageWindow).live.version)).toBe('v1');

  await redis().client.set('frontend-app-version', 'v3');
  await reannounce(restarted);
  current = await record(page);
  expect(current.versions).toEqual([
    { current: 'v1', latest: 'v2', required: false },
    { current: 'v1', latest: 'v3', required: false },
  ]);
});

test('offline then online: the page reconnects and refetches once', async ({ page, context }) => {
  const server = await serve();
  await page.goto(server.url);
  await connected(page);

  await context.setOffline(true);
  await page.waitForFunction(() => (window as unknown as PageWindow).states.at(-1)?.state === 'offline');
  expect((await record(page)).refetches).toEqual([]);
  await context.setOffline(false);

  await page.waitForFunction(() => (window as unknown as PageWindow).refetches.length >= 1);
  await connected(page, 2);
  await sync(page);
  const { refetches, states } = await record(page);
  expect(refetches.map((r) => r.reason)).toEqual(['offline']);
  expect(states.at(-1)).toMatchObject({ state: 'connected', reason: 'reconnected' });
  expect(server.connections).toHaveLength(2);
});

test('server restart, graceful (io.close) and hard (sockets destroyed): the page reconnects and refetches', async ({ page }) => {
  const first = await serve();
  await page.goto(first.url);
  await connected(page);

  await first.stop();
  const second = await serve({ port: first.port });
  await page.waitForFunction(() => (window as unknown as PageWindow).refetches.length === 1);
  await connected(page, 2);
  expect(second.connections).toHaveLength(1);

  await second.kill();
  const third = await serve({ port: first.port });
  await page.waitForFunction(() => (window as unknown as PageWindow).refetches.length === 2);
  await connected(page, 3);
  expect(third.connections).toHaveLength(1);
  await sync(page);
  const { refetches } = await record(page);
  expect(refetches).toHaveLength(2);
  for (const { reason } of refetches) expect(['transport-close', 'transport-error', 'server-disconnect']).toContain(reason);
});

/**
 * Models a laptop sleep: the page's renderer is suspended (its timers stop, its sockets stay
 * open), the link dies silently while it sleeps, and the renderer resumes SLEEP_MS later.
 * Returns Date.now() at SIGCONT.
 */
async function sleepPage(page: Page, whileAsleep: () => void): Promise<number> {
  const pid = await findRenderer(page);
  suspended = pid;
  suspend(pid);
  whileAsleep();
  await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); // the sleep itself
  const resumedAt = Date.now();
  resume(pid);
  suspended = null;
  return resumedAt;
}

/** The page's own record of the wake: its first timer tick after the renderer resumed. */
async function wakeOf(page: Page): Promise<{ at: number; slept: number }> {
  await page
    .waitForFunction((ms) => (window as unknown as PageWindow).wakes.some((w) => w.slept >= ms), SLEEP_MS - 500, { polling: 50, timeout: 10_000 })
    .catch(() => {
      throw new Error('the page never noticed the sleep: was its renderer really suspended?');
    });
  return (await record(page)).wakes.find((w) => w.slept >= SLEEP_MS - 500)!;
}

/**
 * Sleeps with a dead link, then measures in the page the time from wake to the refetch's start,
 * and checks that a plain socket.io-client on the same frozen link has not noticed anything.
 */
async function deadLinkSleep(page: Page, server: TutorialServer, proxy: BlackholeProxy, label: string, webSocketsOnly: boolean) {
  const linksBefore = server.engineConnections.length;
  const resumedAt = await sleepPage(page, () => {
    expect(proxy.blackhole({ webSocketsOnly })).toBeGreaterThanOrEqual(2);
  });
  const wake = await wakeOf(page);
  // Bounded wait so a miss fails with the measured time rather than a timeout.
  await page.waitForFunction(() => (window as unknown as PageWindow).refetches.length >= 1, undefined, { polling: 50, timeout: 10_000 }).catch(() => {});
  const { refetches, baseline } = await record(page);
  const first = refetches[0];
  const wakeToRefetch = first ? first.t - wake.at : Infinity;
  const message = `${label}: wake→refetch ${wakeToRefetch} ms (SIGCONT→refetch ${first ? first.t - resumedAt : Infinity} ms)`;
  console.log(message);
  test.info().annotations.push({ type: 'wake→refetch', description: message });
  expect(first, 'no refetch within 10 s of wake').toBeDefined();
  expect(wakeToRefetch).toBeLessThanOrEqual(WAKE_TO_REFETCH_MS);
  expect(refetches.map((r) => r.reason)).toEqual(['dead-link']);
  // The baseline (pingInterval 25 s + pingTimeout 20 s) has not noticed, even now.
  expect(baseline).toMatchObject({ connected: true, disconnects: [] });
  await connected(page, 2);
  expect(server.engineConnections.length).toBeGreaterThan(linksBefore);
  await sync(page); // the new link carries changes
}

async function openThroughProxy(page: Page, query = '') {
  const server = await serve();
  const proxy = await proxyTo(server);
  await page.goto(`${proxy.url}/${query}`);
  await connected(page);
  return { server, proxy };
}

test('dead link during a sleep (every connection to the origin goes silent): refetch starts within 1 s of wake', async ({ page }) => {
  const { server, proxy } = await openThroughProxy(page, '?baseline');
  await page.waitForFunction(() => (window as unknown as PageWindow).baseline?.connected === true);
  await deadLinkSleep(page, server, proxy, 'all connections silent', false);
});

test('dead WebSocket during a sleep (keep-alive HTTP connections still work): refetch starts within 1 s of wake', async ({ page }) => {
  const { server, proxy } = await openThroughProxy(page, '?baseline');
  await page.waitForFunction(() => (window as unknown as PageWindow).baseline?.connected === true);
  await deadLinkSleep(page, server, proxy, 'WebSockets silent', true);
});

/**
 * After a wake or lifecycle signal on a healthy link: the client checked the link (the server got
 * a packet on the same connection), and kept it — no new connection, no refetch, no state change.
 */
async function expectLinkKept(page: Page, server: TutorialServer, packetsBefore: number, statesBefore: number) {
  const conn = server.engineConnections.at(-1);
  await expect.poll(() => received(server, conn)).toBeGreaterThan(packetsBefore);
  // The answer to that packet is on the wire before this change: once the change is handled,
  // the client has seen the answer, and a teardown would already show.
  await sync(page);
  const { refetches, states } = await record(page);
  expect(refetches).toEqual([]);
  expect(states).toHaveLength(statesBefore);
  expect(server.engineConnections).toHaveLength(1);
  expect(server.connections).toHaveLength(1);
}

test('a healthy link survives a sleep: no new connection, no refetch', async ({ page }) => {
  const { server } = await openThroughProxy(page);
  await sync(page);
  const packetsBefore = received(server, server.engineConnections.at(-1));
  const statesBefore = (await record(page)).states.length;
  await sleepPage(page, () => {});
  await wakeOf(page);
  await expectLinkKept(page, server, packetsBefore, statesBefore);
});

test('a recovered session (connectionStateRecovery) needs no refetch, and the change sent during the gap arrives', async ({ page }) => {
  const server = await serve({ recovery: true });
  await page.goto(server.url);
  await connected(page);
  await sync(page); // a broadcast gives the client an offset to recover from

  server.dropTransports();
  await expect.poll(() => server.io.sockets.sockets.size).toBe(0);
  const forwarded = server.forwarded();
  await redis().publish('rt-change', change('during-gap'));
  await expect.poll(() => server.forwarded()).toBe(forwarded + 1);
  expect(server.connections, 'the page came back before the change was sent').toHaveLength(1);

  await page.waitForFunction(() => (window as unknown as PageWindow).log.some((c) => c.id === 'during-gap'));
  await connected(page, 2);
  await sync(page);
  const { refetches, states } = await record(page);
  expect(server.connections.map((c) => c.recovered)).toEqual([false, true]);
  expect(states.at(-1)).toMatchObject({ state: 'connected', reason: 'recovered' });
  expect(refetches).toEqual([]);
});

const lifecycle: Array<[name: string, fire: () => void]> = [
  ['resume', () => document.dispatchEvent(new Event('resume'))],
  ['visibilitychange', () => document.dispatchEvent(new Event('visibilitychange'))],
  ['pageshow (persisted)', () => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))],
];

test('tab lifecycle events on a healthy link: the link is checked and kept, nothing refetched', async ({ page }) => {
  const { server } = await openThroughProxy(page);
  for (const [name, fire] of lifecycle) {
    await test.step(name, async () => {
      await sync(page);
      const packetsBefore = received(server, server.engineConnections.at(-1));
      const statesBefore = (await record(page)).states.length;
      await page.evaluate(fire);
      await expectLinkKept(page, server, packetsBefore, statesBefore);
    });
  }
});

test('tab lifecycle events on a dead link: reconnect and refetch', async ({ page }) => {
  const { server, proxy } = await openThroughProxy(page);
  let round = 0;
  for (const [name, fire] of lifecycle) {
    await test.step(name, async () => {
      round++;
      expect(proxy.blackhole({ webSocketsOnly: true })).toBe(1);
      await page.evaluate(fire);
      await page.waitForFunction((n) => (window as unknown as PageWindow).refetches.length >= n, round);
      await connected(page, round + 1);
      expect(server.engineConnections).toHaveLength(round + 1);
      await sync(page);
    });
  }
  expect((await record(page)).refetches.map((r) => r.reason)).toEqual(['dead-link', 'dead-link', 'dead-link']);
});
