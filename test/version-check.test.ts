// The version sources besides the socket: the versionUrl poll (conditional requests, only while
// the socket is not connected, once on a return to the page, at once after a failed load) and
// the response-header helper. A fake clock and a fake fetch that plays a static file server.
import { afterEach, describe, expect, it } from 'vitest';
import { createLiveUpdates, type VersionChange } from '../src';
import type { FetchFn } from '../src/environment';
import type { LiveUpdatesError } from '../src/errors';
import { parseVersion } from '../src/messages';
import { createVersionCheck, LOAD_ERROR_GAP_MS, POLL_TIMEOUT_MS } from '../src/version-check';
import { createFakeClock, createShiftedClock } from './helpers/fake-clock';
import { createManualSignals } from './helpers/manual-signals';
import { startServer, until } from './helpers/server';

const INTERVAL = 30_000;

/** A static file server as fetch sees it: ETag per content, 304 for a matching If-None-Match. */
function createFileServer(body: string) {
  const file = { body, etag: '"1"', status: 200, hang: false, fail: false, etags: true };
  const requests: Array<{ url: string; headers: Record<string, string>; cache: string }> = [];
  let served = 0;
  const fetch: FetchFn = (url, init) => {
    requests.push({ url, headers: init.headers, cache: init.cache });
    if (file.fail) return Promise.reject(new TypeError('Failed to fetch'));
    if (file.hang) return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    const validators: Record<string, string> = file.etags ? { etag: file.etag } : { 'last-modified': `Sat, 29 Nov 2025 10:00:0${file.etag[1]} GMT` };
    const matches = file.etags ? init.headers['If-None-Match'] === file.etag : init.headers['If-Modified-Since'] === validators['last-modified'];
    if (file.status === 200 && matches) return Promise.resolve(new Response(null, { status: 304, headers: validators }));
    served++;
    return Promise.resolve(new Response(file.body, { status: file.status, headers: validators }));
  };
  return {
    file,
    requests,
    fetch,
    served: () => served,
    deploy(next: string) {
      file.body = next;
      file.etag = `"${Number(file.etag.slice(1, -1)) + 1}"`;
    },
  };
}

function setup(options: { initial?: unknown; body?: string; url?: string | undefined } = {}) {
  const clock = createFakeClock();
  const server = createFileServer(options.body ?? '{"version":"v1","build":1}');
  const notices: VersionChange[] = [];
  const errors: LiveUpdatesError[] = [];
  const initial = parseVersion(options.initial ?? { version: 'v1', build: 1 });
  const check = createVersionCheck({
    initial: initial.ok ? initial.value : null,
    url: 'url' in options ? options.url : '/version.json',
    intervalMs: INTERVAL,
    header: 'X-App-Version',
    clock,
    fetch: server.fetch,
    notify: (change) => notices.push(change),
    report: (error) => errors.push(error),
  });
  /** Lets the fake fetch's promises settle. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { clock, server, notices, errors, check, settle };
}

describe('versionUrl poll', () => {
  it('polls only while the socket is connecting or reconnecting, once per interval', async () => {
    const { clock, server, check, settle } = setup();
    check.state('connecting');
    clock.advance(INTERVAL - 1);
    expect(server.requests).toHaveLength(0);
    clock.advance(1);
    await settle();
    expect(server.requests).toHaveLength(1);
    check.state('connected');
    clock.advance(5 * INTERVAL);
    expect(server.requests).toHaveLength(1);
    check.state('reconnecting');
    check.state('reconnecting'); // a retry update: the poll keeps its schedule
    clock.advance(INTERVAL);
    await settle();
    clock.advance(INTERVAL);
    await settle();
    expect(server.requests).toHaveLength(3);
    for (const state of ['offline', 'closed'] as const) {
      check.state(state);
      clock.advance(5 * INTERVAL);
      expect(server.requests).toHaveLength(3);
    }
    expect(clock.pending()).toBe(0);
  });

  it('asks with a conditional request and no query string: a 304 costs no notice; a deploy is announced at the next poll', async () => {
    const { clock, server, notices, errors, check, settle } = setup();
    check.state('reconnecting');
    const poll = async () => {
      clock.advance(INTERVAL);
      await settle();
    };
    await poll();
    await poll();
    await poll();
    expect(server.requests.map((r) => [r.url, r.headers['If-None-Match'], r.cache])).toEqual([
      ['/version.json', undefined, 'no-store'],
      ['/version.json', '"1"', 'no-store'],
      ['/version.json', '"1"', 'no-store'],
    ]);
    expect(server.served()).toBe(1);
    expect(notices).toEqual([]);
    server.deploy('{"version":"v2","build":2}');
    await poll();
    expect(notices).toEqual([{ current: 'v1', latest: 'v2', required: false, build: 2 }]);
    await poll();
    expect(server.requests.at(-1)?.headers['If-None-Match']).toBe('"2"');
    expect(server.served()).toBe(2);
    expect(notices).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('falls back to If-Modified-Since where the server sends no ETag, and reads plain text', async () => {
    const { clock, server, notices, check, settle } = setup({ initial: 'abc', body: 'abc\n' });
    server.file.etags = false;
    check.state('connecting');
    clock.advance(INTERVAL);
    await settle();
    clock.advance(INTERVAL);
    await settle();
    expect(server.requests[1]?.headers).toEqual({ 'If-Modified-Since': 'Sat, 29 Nov 2025 10:00:01 GMT' });
    expect(server.served()).toBe(1);
    server.deploy('def\n');
    clock.advance(INTERVAL);
    await settle();
    expect(notices).toEqual([{ current: 'abc', latest: 'def', required: false }]);
  });

  it('the same ordering rule: an older build in the file (a stale copy) is no downgrade prompt', async () => {
    const { clock, notices, check, settle } = setup({ initial: { version: 'v2', build: 2 } });
    check.state('connecting');
    clock.advance(INTERVAL);
    await settle();
    expect(notices).toEqual([]);
  });

  it('checks once on wake or when shown again, throttled to one check per interval, connected or not', async () => {
    const { clock, server, check, settle } = setup();
    check.state('connected');
    check.signal('wake');
    await settle();
    check.signal('visible');
    check.signal('resume');
    check.signal('restore');
    await settle();
    expect(server.requests).toHaveLength(1);
    clock.advance(INTERVAL - 1);
    check.signal('visible');
    await settle();
    expect(server.requests).toHaveLength(1);
    clock.advance(1);
    check.signal('visible');
    await settle();
    expect(server.requests).toHaveLength(2);
    // Signals about the network are the socket's business.
    clock.advance(INTERVAL);
    for (const signal of ['online', 'offline', 'network-change'] as const) check.signal(signal);
    await settle();
    expect(server.requests).toHaveLength(2);
  });

  it('a failed script or chunk load checks at once, at most once per 5 s', async () => {
    const { clock, server, notices, check, settle } = setup();
    check.state('connected');
    server.deploy('{"version":"v2","build":2}');
    check.signal('load-error');
    check.signal('load-error');
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(notices.map((n) => n.latest)).toEqual(['v2']);
    clock.advance(LOAD_ERROR_GAP_MS - 1);
    check.signal('load-error');
    await settle();
    expect(server.requests).toHaveLength(1);
    clock.advance(1);
    check.signal('load-error');
    await settle();
    expect(server.requests).toHaveLength(2);
  });

  it('failures are error events and the next interval polls again; a request that hangs is aborted at its deadline', async () => {
    const { clock, server, errors, check, settle, notices } = setup();
    check.state('reconnecting');
    server.file.fail = true;
    clock.advance(INTERVAL);
    await settle();
    server.file.fail = false;
    server.file.status = 503;
    clock.advance(INTERVAL);
    await settle();
    server.file.status = 200;
    server.file.hang = true;
    clock.advance(INTERVAL);
    await settle();
    clock.advance(POLL_TIMEOUT_MS);
    await settle();
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['version-check-failed', 'could not read /version.json: Failed to fetch'],
      ['version-check-failed', 'could not read /version.json: HTTP 503'],
      ['version-check-failed', `could not read /version.json: no answer within ${POLL_TIMEOUT_MS} ms`],
    ]);
    server.file.hang = false;
    server.deploy('{"version":"v2","build":2}');
    clock.advance(INTERVAL - POLL_TIMEOUT_MS);
    await settle();
    expect(notices.map((n) => n.latest)).toEqual(['v2']);
  });

  it('an invalid file is an invalid-version error', async () => {
    const { clock, errors, check, settle } = setup({ body: '{"build":3}' });
    check.state('connecting');
    clock.advance(INTERVAL);
    await settle();
    expect(errors.map((e) => e.code)).toEqual(['invalid-version']);
  });

  it('without versionUrl nothing is asked; close() stops the timer and aborts a request in flight silently', async () => {
    const bare = setup({ url: undefined });
    bare.check.state('connecting');
    bare.check.signal('wake');
    bare.check.signal('load-error');
    expect(bare.clock.pending()).toBe(0);
    expect(bare.server.requests).toHaveLength(0);

    const { clock, server, errors, check, settle } = setup();
    server.file.hang = true;
    check.state('connecting');
    clock.advance(INTERVAL);
    check.close();
    await settle();
    expect(server.requests).toHaveLength(1);
    expect(errors).toEqual([]);
    expect(clock.pending()).toBe(0);
    check.state('connecting');
    expect(clock.pending()).toBe(0);
  });
});

describe('checkResponse', () => {
  it('reads the version header of a response (case-insensitive), ignores responses without it', () => {
    const { check, notices, errors } = setup();
    check.checkResponse(new Response('[]', { headers: { 'content-type': 'application/json' } }));
    check.checkResponse(new Response('[]', { headers: { 'x-app-version': 'v1' } }));
    expect(notices).toEqual([]);
    check.checkResponse(new Response('[]', { headers: { 'X-App-Version': '{"version":"v2","build":2,"required":true}' } }));
    expect(notices).toEqual([{ current: 'v1', latest: 'v2', required: true, build: 2 }]);
    check.checkResponse({ headers: { get: () => '{"nope":1}' } });
    expect(errors.map((e) => [e.code, e.message.split(':')[0]])).toEqual([['invalid-version', 'ignored X-App-Version header']]);
    expect(() => check.checkResponse({} as never)).toThrow(TypeError);
  });
});

describe('through createLiveUpdates', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('polls versionUrl while the server is down, not while connected; checkResponse and availableVersion; the header name is an option', async () => {
    let server = await startServer();
    cleanups.push(() => server.close());
    const file = createFileServer('{"version":"v1","build":1}');
    const signals = createManualSignals();
    const live = createLiveUpdates({
      url: server.url,
      currentVersion: { version: 'v1', build: 1 },
      versionUrl: '/version.json',
      versionPollMs: 1000,
      versionHeader: 'X-Build',
      socketOptions: { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 },
      environment: { clock: createShiftedClock(), signals: signals.source, fetch: file.fetch },
    });
    cleanups.push(() => live.close());
    const notices: Array<string | null> = [];
    live.onNewVersion(({ latest }) => notices.push(latest));
    await until(() => live.state === 'connected');
    signals.fire('load-error'); // asks the file at once, and is no business of the connection's
    await until(() => file.requests.length === 1);
    expect(live.state).toBe('connected');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(file.requests).toHaveLength(1); // connected: no polling

    file.deploy('{"version":"v2","build":2}');
    const { port } = server;
    await server.close(); // down: reconnecting, and polling
    await until(() => notices.length === 1, 5000);
    expect(live.state).toBe('reconnecting');
    expect(notices).toEqual(['v2']);
    expect(live.availableVersion).toEqual({ version: 'v2', build: 2, required: false });

    server = await startServer({}, port);
    await until(() => live.state === 'connected', 5000);
    await new Promise((resolve) => setTimeout(resolve, 50)); // a poll sent just before is answered
    const polled = file.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(file.requests).toHaveLength(polled); // connected again: polling stopped

    live.checkResponse(new Response(null, { headers: { 'X-Build': '{"version":"v3","build":3}' } }));
    expect(notices).toEqual(['v2', 'v3']);
    expect(() => createLiveUpdates({ url: server.url, versionPollMs: 10 })).toThrow(TypeError);
    expect(() => createLiveUpdates({ url: server.url, currentVersion: { version: 'v1', build: 'soon' } })).toThrow(TypeError);
  });
});
