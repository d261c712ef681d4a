// Regenerates demo/screenshot.png: starts the demo on a free port, drives it in Debian's headless
// Chromium (add a book, rename one, deploy a new version), and shoots the page.
//   npm run build && node demo/screenshot.mjs
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const port = await freePort();
const server = spawn(process.execPath, [new URL('./server.mjs', import.meta.url).pathname], {
  env: { ...process.env, PORT: String(port), REDIS_URL: '' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve, reject) => {
  server.stdout.on('data', (chunk) => String(chunk).includes('demo on') && resolve());
  server.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
});

const origin = `http://127.0.0.1:${port}`;
const post = (path, method, body) =>
  fetch(origin + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 720 }, deviceScaleFactor: 1 });
  page.on('console', (msg) => console.log('[page]', msg.type(), msg.text()));
  await page.goto(origin);
  await page.locator('#badge[data-state="connected"]').waitFor();
  await page.locator('#books li[data-id="3"]').waitFor();

  // Through the page's form, then "another user" through the API: both arrive live.
  await page.fill('input[name=title]', 'The Dispossessed');
  await page.fill('input[name=author]', 'Ursula K. Le Guin');
  await page.click('button[type=submit]');
  await page.locator('#books li[data-id="4"]').waitFor();
  await post('/books/2', 'PATCH', { title: 'Invisible Cities (2nd ed.)' });
  await page.locator('#books li[data-id="2"] .title', { hasText: '(2nd ed.)' }).waitFor();
  await post('/books/3', 'DELETE');
  await page.locator('#books li[data-id="3"]').waitFor({ state: 'detached' });
  await post('/deploy', 'POST', { version: 'v2' });
  await page.locator('#banner.shown').waitFor();
  await page.waitForTimeout(1500); // let the highlight fade

  const out = new URL('./screenshot.png', import.meta.url).pathname;
  await page.screenshot({ path: out, fullPage: true });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
