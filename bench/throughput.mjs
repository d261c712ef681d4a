// 2. Routing throughput in Chromium: changes/s that reach `subscribe` handlers (100 resources ×
// 10 subscribers) against a raw `socket.on('rt-change')` handler, on the same stream. Two ways:
// - decode + dispatch: the same socket.io packets fed to a connected socket.io-client Manager in
//   the page, so only the page's main-thread work is timed and what the library adds is visible;
// - websocket end to end: a plain socket.io server streams the changes; Chromium's per-frame cost
//   (network service → renderer) limits both, which is what a real page sees.
// The script tag's own socket.io-client is used through the `socket` option in the first, so both
// modes run the same socket.io-client build (socket.io.min.js).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from '@playwright/test';
import { Server } from 'socket.io';
import { dist, median, root, row } from './lib/util.mjs';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const PAGE = `<!doctype html><meta charset="utf-8"><title>live-updates bench</title>
<script src="/live-updates.global.js"></script><script src="/socket.io.min.js"></script>
<script>
  // One run: connect (ours or raw), ask for the stream, block while it arrives, then drain it.
  window.runOnce = (mode, { count, resources, subscribers, blockMs, transport }) => new Promise((resolve, reject) => {
    let delivered = 0, before = 0, start = 0, live = null, socket = null;
    const done = () => {
      const ms = performance.now() - start;
      if (live) live.close(); else socket.disconnect();
      resolve({ ms, drained: count - before });
    };
    const onChange = () => { if (++delivered === count) done(); };
    if (mode === 'ours') {
      live = LiveUpdates.createLiveUpdates({ url: location.origin, socketOptions: { transports: [transport] } });
      // A change counts as delivered once the last of its resource's subscribers has it.
      for (let r = 0; r < resources; r++) for (let s = 0; s < subscribers; s++) {
        live.subscribe('res-' + r, s === subscribers - 1 ? onChange : () => {});
      }
      live.onError((e) => reject(new Error(e.code + ': ' + e.message)));
      const off = live.onStateChange((state) => state === 'connected' && (off(), go(live)));
    } else {
      socket = io(location.origin, { transports: [transport], forceNew: true });
      socket.on('rt-change', onChange);
      socket.once('connect', () => go(null));
    }
    function go() {
      // Ask on a separate socket, so both modes ask the same way; the stream goes to every client.
      fetch('/go?count=' + count + '&resources=' + resources).then(() => {
        const until = performance.now() + blockMs;
        while (performance.now() < until) {} // the page is busy: the stream piles up unread
        start = performance.now();
        before = delivered;
      });
    }
    setTimeout(() => reject(new Error('timeout, delivered ' + delivered)), 60000);
  });

  // The same work without the transport: socket.io packets, encoded once up front, fed to a
  // connected socket.io-client Manager (its ondata, what the transport calls for each frame), so
  // decode + dispatch on the page's main thread is all that is timed.
  window.feedOnce = async (mode, { count, resources, subscribers }) => {
    const socket = io(location.origin, { transports: ['websocket'], forceNew: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    const packets = [];
    for (let j = 0; j < count; j++) packets.push('2' + JSON.stringify(['rt-change', { resource: 'res-' + (j % resources), action: 'update', id: j, obj: { title: 'Book ' + j } }]));
    let delivered = 0, end = 0, live = null;
    // socket.io-client dispatches each decoded packet in a microtask: stop the clock at the last one.
    const onChange = () => { if (++delivered === count) end = performance.now(); };
    if (mode === 'ours') {
      live = LiveUpdates.createLiveUpdates({ socket });
      for (let r = 0; r < resources; r++) for (let s = 0; s < subscribers; s++) live.subscribe('res-' + r, s === subscribers - 1 ? onChange : () => {});
    } else if (mode === 'routed') {
      // What a hand-written app would do for the same subscriptions: a Map of handler arrays.
      const routes = new Map();
      for (let r = 0; r < resources; r++) routes.set('res-' + r, Array.from({ length: subscribers }, (_, s) => (s === subscribers - 1 ? onChange : () => {})));
      socket.on('rt-change', (change) => { for (const handler of routes.get(change.resource) || []) handler(change); });
    } else {
      socket.on('rt-change', onChange);
    }
    const start = performance.now();
    for (const packet of packets) socket.io.ondata(packet);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const ms = end - start;
    if (live) live.close();
    socket.disconnect();
    if (delivered !== count) throw new Error(mode + ' delivered ' + delivered + ' of ' + count);
    return { ms, drained: count };
  };
</script>`;

function startServer() {
  const files = {
    '/live-updates.global.js': readFileSync(dist('live-updates.global.js')),
    '/socket.io.min.js': readFileSync(path.join(root, 'node_modules/socket.io-client/dist/socket.io.min.js')),
  };
  let io;
  let lastEmitMs = 0;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    if (files[url.pathname]) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(files[url.pathname]);
    if (url.pathname === '/go') {
      res.writeHead(200).end('ok');
      const count = Number(url.searchParams.get('count'));
      const resources = Number(url.searchParams.get('resources'));
      const t0 = performance.now();
      for (let i = 0; i < count; i += 1000) {
        for (let j = i; j < Math.min(count, i + 1000); j++) io.emit('rt-change', { resource: `res-${j % resources}`, action: 'update', id: j, obj: { title: `Book ${j}` } });
        await new Promise((resolve) => setImmediate(resolve));
      }
      lastEmitMs = performance.now() - t0;
      return;
    }
    res.writeHead(404).end();
  });
  io = new Server(server, { serveClient: false });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}/`, lastEmitMs: () => lastEmitMs, close: () => new Promise((r) => io.close(() => r())) }),
    ),
  );
}

async function measure(page, server, { count, resources, subscribers, rounds, blockMs, transport }) {
  const ours = [];
  const raw = [];
  const emitMs = [];
  const once = async (mode) => {
    const fn = transport === 'none' ? ([m, o]) => window.feedOnce(m, o) : ([m, o]) => window.runOnce(m, o);
    const { ms, drained } = await page.evaluate(fn, [mode, { count, resources, subscribers, blockMs, transport }]);
    emitMs.push(server.lastEmitMs());
    return drained / (ms / 1000);
  };
  await once('ours'); // warm-up (JIT) for both
  await once('raw');
  const routed = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) ours.push(await once('ours')), raw.push(await once('raw'));
    else raw.push(await once('raw')), ours.push(await once('ours'));
    if (transport === 'none') routed.push(await once('routed'));
  }
  return { transport, count, blockMs, ours, raw, routed, maxEmitMs: Math.round(Math.max(...emitMs)) };
}

/**
 * Two streams. `polling` with the page blocked while the stream piles up: engine.io hands the page
 * big batches, so the drain rate is the page's own JavaScript (decode + handlers) — what the
 * library adds is fully visible. `websocket`, end to end: one frame per change, and Chromium's
 * per-frame cost (network service → renderer) is what limits both.
 */
export async function run({ log = console.log, resources = 100, subscribers = 10 } = {}) {
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  let batched;
  let frames;
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    batched = await measure(page, server, { count: 100_000, resources, subscribers, rounds: 5, blockMs: 0, transport: 'none' });
    frames = await measure(page, server, { count: 8_000, resources, subscribers, rounds: 4, blockMs: 0, transport: 'websocket' });
  } finally {
    await browser.close();
    await server.close();
  }
  const k = (v) => `${Math.round(v / 1000)}k`;
  for (const m of [batched, frames]) {
    const routed = m.routed.length ? `; hand-routed Map ${m.routed.map(k).join(', ')}` : '';
    const how = m.transport === 'none' ? `${m.count} packets fed to the Manager` : `websocket stream of ${m.count}, server emitted it in ≤ ${m.maxEmitMs} ms`;
    log(`  throughput (Chromium, ${how}, ${resources}×${subscribers} subscriptions): ours ${m.ours.map(k).join(', ')}; raw ${m.raw.map(k).join(', ')}${routed} changes/s`);
  }
  const rows = [
    row({ name: `routing throughput in Chromium, decode + dispatch (${resources}×${subscribers} subscriptions)`, ours: median(batched.ours), baseline: median(batched.raw), unit: 'changes/s', goal: 'ratio ≥ 0.9', met: median(batched.ours) >= 0.9 * median(batched.raw) }),
    row({ name: `routing throughput in Chromium, websocket end to end (${resources}×${subscribers})`, ours: median(frames.ours), baseline: median(frames.raw), unit: 'changes/s', goal: 'ratio ≥ 0.9', met: median(frames.ours) >= 0.9 * median(frames.raw) }),
  ];
  return { rows, detail: { resources, subscribers, batched, frames } };
}
