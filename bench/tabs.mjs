// 11. Tabs (issue 13): eight tabs of one app in one Chromium profile, with `shareTabs: true`
// (ours) against eight independent instances (baseline: each tab its own connection, as before).
// Counted: the connections the bridge holds, the API refetches a bridge restart costs, and the
// API refetches closing one tab costs (ours: the leader, so a hand-over). The bridge runs without
// its change log (`--log-max-length 0`), as a plain socket.io server would: every gap refetches.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { chromium } from '@playwright/test';
import { dist, freePort, row, sleep, startBridgeCli, until } from './lib/util.mjs';

const TABS = 8;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const PAGE = `<!doctype html><meta charset="utf-8"><script src="/live-updates.global.js"></script><script>
  const params = new URLSearchParams(location.search);
  window.refetches = [];
  const live = (window.live = LiveUpdates.createLiveUpdates({
    url: params.get('bridge'),
    shareTabs: params.get('mode') === 'ours',
    refetchSpreadMs: 0,
    socketOptions: { transports: ['websocket'], reconnectionDelay: 250, reconnectionDelayMax: 1000 },
  }));
  live.subscribe('books', () => {}, {
    refetch: async ({ reason, signal }) => {
      window.refetches.push(reason);
      await (await fetch('/api/books?mode=' + params.get('mode') + '&reason=' + reason, { signal, cache: 'no-store' })).json();
    },
  });
</script>`;

async function startApp() {
  const script = readFileSync(dist('live-updates.global.js'));
  const gets = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://app');
    if (url.pathname === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    else if (url.pathname === '/live-updates.global.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (url.pathname === '/api/books') {
      gets.push({ mode: url.searchParams.get('mode'), reason: url.searchParams.get('reason') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    } else res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, gets, close: () => new Promise((resolve) => server.close(resolve)) };
}

const clients = async (bridgeUrl) => (await (await fetch(`${bridgeUrl}/healthz`)).json()).clients;

/** One mode: open the tabs, count connections, restart the bridge, close one tab. */
async function measure(browser, app, mode, port, bridgeArgs, log) {
  const bridgeUrl = `http://127.0.0.1:${port}`;
  let bridge = await startBridgeCli(bridgeArgs);
  const context = await browser.newContext();
  try {
    const pages = [];
    const sockets = new Map();
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage();
      sockets.set(page, 0);
      page.on('websocket', (ws) => {
        sockets.set(page, sockets.get(page) + 1);
        ws.on('close', () => sockets.set(page, sockets.get(page) - 1));
      });
      await page.goto(`${app.url}/?mode=${mode}&bridge=${encodeURIComponent(bridgeUrl)}`);
      pages.push(page);
    }
    const loaded = async (count) => {
      for (const page of pages) await page.waitForFunction((n) => window.live.state === 'connected' && window.refetches.length >= n, count, { timeout: 20_000 });
    };
    await loaded(1);
    const connections = await clients(bridgeUrl);

    const before = app.gets.length;
    await bridge.stop('SIGTERM');
    bridge = await startBridgeCli(bridgeArgs);
    await loaded(2);
    await sleep(500); // late refetches would count too
    const restart = app.gets.length - before;

    const leader = pages.find((page) => sockets.get(page) > 0) ?? pages[0];
    const rest = pages.filter((page) => page !== leader);
    const beforeClose = app.gets.length;
    await leader.close();
    await until(async () => (await clients(bridgeUrl)) >= 1, 10_000, 'a connection after the close', 50);
    await sleep(2000); // a hand-over's refetches, if any, run within this
    for (const page of rest) await page.waitForFunction(() => window.live.state === 'connected', undefined, { timeout: 10_000 });
    const close = app.gets.length - beforeClose;
    log(`  tabs (${mode}): ${connections} bridge connections for ${TABS} tabs; ${restart} refetches after a bridge restart; ${close} after closing ${mode === 'ours' ? 'the leader' : 'one'} tab`);
    return { connections, restart, close };
  } finally {
    await context.close();
    await bridge.stop('SIGKILL');
  }
}

export async function run({ log = console.log, redisUrl }) {
  const app = await startApp();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const port = await freePort();
    const args = ['--port', String(port), '--log-max-length', '0', ...(redisUrl ? ['--redis', redisUrl] : [])];
    const baseline = await measure(browser, app, 'solo', port, args, log);
    const ours = await measure(browser, app, 'ours', port, args, log);
    const name = `tabs: connections and refetches, ${TABS} tabs`;
    return {
      rows: [
        row({ name: `${name}: bridge connections`, ours: ours.connections, baseline: baseline.connections, unit: 'connections', goal: 'ours = 1', met: ours.connections === 1 }),
        row({ name: `${name}: API refetches after a bridge restart (no change log)`, ours: ours.restart, baseline: baseline.restart, unit: 'requests', goal: '(report: each tab reloads its own state)', met: null }),
        row({ name: `${name}: API refetches when a tab closes (ours: the leader; no change log)`, ours: ours.close, baseline: baseline.close, unit: 'requests', goal: '(report: a hand-over is a gap)', met: null, ratio: null }),
      ],
      detail: { tabs: TABS, ours, baseline },
    };
  } finally {
    await browser.close();
    await app.close();
  }
}
