// Where version announcements come from, and the notices they make. The socket carries them while
// it is connected; when it cannot (a proxy that blocks both transports, the server down, a tab
// left open for days), `versionUrl` is polled; the app's own API responses may carry the version
// in a header; and a failed chunk load (the assets of the running build are gone after a deploy)
// asks at once. All of them feed the one rule in version.ts. Hand-written: socket.io has no
// polling fallback for a plain file, and the poll plugins poll always, with cache-busting queries.
//
// The poll: a conditional GET (If-None-Match with the last ETag, else If-Modified-Since), no
// query string, so the server or CDN answers 304 with no body and nothing is parsed; only while
// the socket is connecting or reconnecting (not offline: it would fail); and once, throttled, when
// the page wakes or is shown again.
import type { ConnectionState } from './connection';
import type { Clock, FetchFn, Signal, TimerHandle } from './environment';
import { createError, describe, type LiveUpdatesError } from './errors';
import { parseVersion } from './messages';
import { createVersionTracker, type AvailableVersion, type VersionChange, type VersionSource } from './version';
import type { VersionInfo } from './messages';

/** Longest a poll request may take before it is aborted, in ms (a dead pooled connection would hang it). */
export const POLL_TIMEOUT_MS = 10_000;
/** Least time between two checks caused by failed chunk loads, in ms (a broken page fails many at once). */
export const LOAD_ERROR_GAP_MS = 5000;

/** Signals after which the page asks `versionUrl` once (throttled to one check per poll interval). */
const RETURN_SIGNALS: ReadonlySet<Signal> = new Set<Signal>(['wake', 'visible', 'resume', 'restore']);

/** What the app may pass to `checkResponse`: a fetch `Response`, or anything with `headers.get`. */
export interface ResponseLike {
  headers: { get(name: string): string | null | undefined };
}

/** Options of {@link createVersionCheck}. */
export interface VersionCheckOptions {
  /** The build-time version, parsed; `null` when unknown. */
  initial: VersionInfo | null;
  /** The file to poll; `undefined`: no polling. */
  url: string | undefined;
  /** Poll interval and wake throttle, in ms. */
  intervalMs: number;
  /** Response header `checkResponse` reads. */
  header: string;
  /** Schedules the polls, throttles the checks and times requests out. */
  clock: Clock;
  /** Sends the poll requests. */
  fetch: FetchFn;
  /** Fires a notice. */
  notify(change: VersionChange): void;
  /** Reports an invalid announcement or a failed poll. */
  report(error: LiveUpdatesError): void;
}

/** The version sources of one instance. */
export interface VersionCheck {
  /**
   * One announcement the socket carried (`source` names it in error messages): parsed, ruled on,
   * maybe notified. `from`: `'connect'` for the first of a new connection (see VersionTracker.receive).
   */
  receive(payload: unknown, source: string, from?: 'socket' | 'connect'): void;
  /** The socket's state: polling runs only while it is connecting or reconnecting. */
  state(state: ConnectionState): void;
  /** A browser signal: a return to the page checks once (throttled), a failed load checks now. */
  signal(signal: Signal): void;
  /** Reads the version header of a response. */
  checkResponse(response: ResponseLike): void;
  /** The notice a listener added now hears (the current offer), or `null`. */
  pending(): VersionChange | null;
  /** The current offer, or `null`. */
  available(): AvailableVersion | null;
  /** The running version, once known. */
  current(): string | null;
  /** Stops the timer and aborts a request in flight. */
  close(): void;
}

/** Creates the version sources around one tracker. */
export function createVersionCheck(options: VersionCheckOptions): VersionCheck {
  const { url, intervalMs, header, clock, notify, report } = options;
  const tracker = createVersionTracker(options.initial);
  let timer: TimerHandle | undefined;
  let polling = false;
  let lastCheckAt = -Infinity;
  let inFlight: AbortController | null = null;
  let validator: ['If-None-Match' | 'If-Modified-Since', string] | null = null;
  let closed = false;

  const receive = (payload: unknown, source: string, from: VersionSource = 'socket'): void => {
    if (closed) return;
    const parsed = parseVersion(payload);
    if (!parsed.ok) return report(createError('invalid-version', `ignored ${source}: ${parsed.reason}`, { cause: parsed.cause }));
    const notice = tracker.receive(parsed.value, from);
    if (notice) notify(notice);
  };

  const check = async (): Promise<void> => {
    if (!url || inFlight || closed) return;
    lastCheckAt = clock.now();
    const controller = (inFlight = new AbortController());
    const deadline = clock.setTimeout(() => controller.abort(), Math.min(intervalMs, POLL_TIMEOUT_MS));
    try {
      const response = await options.fetch(url, { headers: validator ? { [validator[0]]: validator[1] } : {}, cache: 'no-store', signal: controller.signal });
      if (response.status === 304) return;
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const etag = response.headers.get('etag');
      const modified = response.headers.get('last-modified');
      validator = etag ? ['If-None-Match', etag] : modified ? ['If-Modified-Since', modified] : null;
      receive(await response.text(), url, 'hint');
    } catch (cause) {
      if (!closed) report(createError('version-check-failed', `could not read ${url}: ${controller.signal.aborted ? `no answer within ${Math.min(intervalMs, POLL_TIMEOUT_MS)} ms` : describe(cause)}`, { cause }));
    } finally {
      clock.clearTimeout(deadline);
      inFlight = null;
    }
  };

  const schedule = (): void => {
    if (timer !== undefined || !polling || !url) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      void check();
      schedule();
    }, intervalMs);
  };
  const stop = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };

  return {
    receive,
    state(state) {
      polling = !closed && (state === 'connecting' || state === 'reconnecting');
      if (polling) schedule();
      else stop();
    },
    signal(signal) {
      const gap = signal === 'load-error' ? LOAD_ERROR_GAP_MS : RETURN_SIGNALS.has(signal) ? intervalMs : null;
      if (gap !== null && clock.now() - lastCheckAt >= gap) void check();
    },
    checkResponse(response) {
      if (typeof response?.headers?.get !== 'function') throw new TypeError('live-updates: checkResponse() needs a Response (or an object with headers.get).');
      const value = response.headers.get(header);
      if (value) receive(value, `${header} header`, 'hint');
    },
    pending: tracker.pending,
    available: tracker.available,
    current: tracker.current,
    close() {
      closed = true;
      polling = false;
      stop();
      inFlight?.abort();
    },
  };
}
