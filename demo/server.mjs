// The live-updates demo: a tiny "books" app. Its JSON API stands in for a Rails app whose
// after_create/after_update/after_destroy callbacks publish each change; the bridge is attached to
// the same http server, so page, API and socket.io share one origin.
//
//   npm run demo                          embedded bus, nothing else needed
//   REDIS_URL=redis://127.0.0.1:6379 npm run demo
//                                         real Redis: `redis-cli PUBLISH rt-change '{…}'` shows live
//   PORT=3005 HOST=0.0.0.0 APP_VERSION=abc123 npm run demo
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createBridge } from '../packages/live-updates-bridge/dist/index.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const redisUrl = process.env.REDIS_URL || undefined;
const files = {
  page: new URL('./index.html', import.meta.url),
  client: new URL('../dist/live-updates.global.js', import.meta.url),
  clientMap: new URL('../dist/live-updates.global.js.map', import.meta.url),
};

// The "database": numeric ids, in memory.
const books = new Map();
let nextId = 1;
for (const [title, author] of [
  ['The Left Hand of Darkness', 'Ursula K. Le Guin'],
  ['Invisible Cities', 'Italo Calvino'],
  ['Beloved', 'Toni Morrison'],
]) {
  const id = nextId++;
  books.set(id, { id, title, author, updatedAt: new Date().toISOString() });
}

// The version this server renders pages with; POST /deploy moves it, as a real deploy would.
let renderedVersion = process.env.APP_VERSION || 'v1';

const server = createServer((req, res) => {
  route(req, res).catch((error) => {
    console.error('[demo]', error);
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
  });
});
const bridge = await createBridge({ server, redisUrl });
// Announce the running version (SET + PUBLISH app-version), as a deploy script would.
await bridge.publishVersion(renderedVersion).catch((error) => console.warn('[demo] could not publish the version:', error.message));

async function route(req, res) {
  const url = new URL(req.url ?? '/', 'http://demo');
  const [, first, second, ...rest] = url.pathname.split('/');

  if (req.method === 'GET' && url.pathname === '/') {
    const html = await readFile(files.page, 'utf8');
    // Render the running version into the page, as a server-rendered app would.
    const page = html.replace('"__CURRENT_VERSION__"', JSON.stringify(renderedVersion).replace(/</g, '\\u003c'));
    return send(res, 200, page, 'text/html; charset=utf-8');
  }
  if (req.method === 'GET' && url.pathname === '/live-updates.global.js') return sendFile(res, files.client, 'text/javascript');
  if (req.method === 'GET' && url.pathname === '/live-updates.global.js.map') return sendFile(res, files.clientMap, 'application/json');

  if (first === 'books' && rest.length === 0) {
    if (second === undefined || second === '') {
      if (req.method === 'GET') return send(res, 200, [...books.values()]);
      if (req.method === 'POST') {
        const input = checkBook(await readJson(req), true);
        if (typeof input === 'string') return send(res, 422, { error: input });
        const id = nextId++;
        const book = { id, ...input, updatedAt: new Date().toISOString() };
        books.set(id, book);
        await bridge.publishChange({ resource: 'books', action: 'create', id, obj: book }); // after_create
        return send(res, 201, book);
      }
    } else {
      const id = Number(second);
      const book = books.get(id);
      if (!book) return send(res, 404, { error: `no book ${second}` });
      if (req.method === 'GET') return send(res, 200, book);
      if (req.method === 'PATCH') {
        const input = checkBook(await readJson(req), false);
        if (typeof input === 'string') return send(res, 422, { error: input });
        Object.assign(book, input, { updatedAt: new Date().toISOString() });
        await bridge.publishChange({ resource: 'books', action: 'update', id, obj: book }); // after_update
        return send(res, 200, book);
      }
      if (req.method === 'DELETE') {
        books.delete(id);
        await bridge.publishChange({ resource: 'books', action: 'destroy', id }); // after_destroy
        res.writeHead(204).end();
        return;
      }
    }
  }

  if (req.method === 'POST' && url.pathname === '/deploy') {
    const body = await readJson(req);
    const version = typeof body?.version === 'string' ? body.version.trim() : '';
    if (!version || version.length > 100) return send(res, 422, { error: 'version must be a non-empty string' });
    renderedVersion = version;
    // What `live-updates-bridge version set <version>` does: the next deploy number, the deploy
    // before kept for a rollback, SET app-version + PUBLISH.
    const deploy = await bridge.publishVersion(version);
    return send(res, 200, deploy);
  }

  if (req.method === 'POST' && url.pathname === '/rollback') {
    // What `live-updates-bridge version rollback` does: back to the deploy before.
    const deploy = await bridge.rollbackVersion().catch((error) => ({ error: error.message }));
    if ('error' in deploy) return send(res, 409, deploy);
    renderedVersion = deploy.version;
    return send(res, 200, deploy);
  }

  send(res, 404, { error: 'not found' });
}

/** Returns the cleaned fields, or an error message. */
function checkBook(body, creating) {
  if (!body || typeof body !== 'object') return 'expected a JSON object';
  const out = {};
  for (const field of ['title', 'author']) {
    const value = body[field];
    if (value === undefined && !creating) continue;
    if (typeof value !== 'string' || !value.trim() || value.length > 200) return `${field} must be a non-empty string (max 200)`;
    out[field] = value.trim();
  }
  return Object.keys(out).length ? out : 'nothing to update';
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    return undefined;
  }
}

function send(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

async function sendFile(res, file, type) {
  try {
    send(res, 200, await readFile(file), type);
  } catch {
    send(res, 404, { error: 'run `npm run build` first: dist/live-updates.global.js is missing' });
  }
}

server.listen(port, host, () => {
  const bus = redisUrl ? `Redis ${redisUrl}` : 'embedded bus (set REDIS_URL for Redis)';
  console.log(`live-updates demo on http://${host}:${bridge.port} — version ${renderedVersion}, ${bus}`);
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 5000).unref();
    bridge.close().then(() => process.exit(0));
  });
}
