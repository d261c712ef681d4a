// Clock and browser signals behind one injectable seam: the only module that touches window or
// document. Unit tests pass their own clock and signal source and drive both directly.

/** Opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Time, injectable so tests can drive it. */
export interface Clock {
  /** Wall-clock milliseconds (jumps forward after a sleep). */
  now(): number;
  /** Schedules `callback` after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Something the browser tells us that may mean the connection is stale:
 * - `online` / `offline`: `navigator.onLine` flipped;
 * - `visible`: the tab was shown again (`visibilitychange`);
 * - `resume`: a frozen tab was resumed (Page Lifecycle `resume`);
 * - `restore`: the page came back from the back/forward cache (`pageshow` with `persisted`);
 * - `wake`: timers stalled and the wall clock jumped (laptop or phone sleep, suspended process);
 * - `network-change`: the network the browser uses changed (Network Information API `change`,
 *   where the browser has it: Chromium), so the link may have died while the page was awake;
 * - `load-error`: a script, stylesheet or module chunk of the page failed to load (Vite's
 *   `vite:preloadError`, an `error` event of a `<script>` or `<link>`, or a rejected dynamic
 *   `import()` / webpack `ChunkLoadError` left unhandled): after a deploy, the running build's
 *   assets may be gone, so it is a reason to ask for the version.
 */
export type Signal = 'online' | 'offline' | 'visible' | 'resume' | 'restore' | 'wake' | 'network-change' | 'load-error';

/** A signal source: starts listening, reports through `emit`, returns its cleanup. */
export type SignalSource = (emit: (signal: Signal) => void) => () => void;

/** The part of `fetch` the version poll uses (`versionUrl`). */
export type FetchFn = (url: string, init: { headers: Record<string, string>; cache: 'no-store'; signal: AbortSignal }) => Promise<Response>;

/** The injectable environment of one live-updates instance. */
export interface Environment {
  /** @default the global timers and `Date.now`, looked up at call time so fake timers work */
  clock: Clock;
  /** @default {@link createBrowserSignals} with the same clock */
  signals: SignalSource;
  /** @default the global `fetch`, looked up at call time */
  fetch: FetchFn;
}

/** Calls the global `fetch` late, so a test's stub or a polyfill installed afterwards still applies. */
export const systemFetch: FetchFn = (url, init) => fetch(url, init);

/**
 * A rejection a failed module chunk leaves: Chromium's, Firefox's and Safari's words for a dynamic
 * `import()` that could not load, and webpack's `ChunkLoadError` (name or message).
 */
const CHUNK_FAILURE = /dynamically imported module|Importing a module script failed|ChunkLoadError|Loading (CSS )?chunk \S+ failed/i;

/** Calls the globals late, so test frameworks' fake timers installed afterwards still apply. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Options of {@link createBrowserSignals}. */
export interface BrowserSignalOptions {
  /**
   * How often the sleep detector ticks, in ms. A tick that arrives much later than scheduled
   * means the page was suspended (sleep, frozen tab, stopped process).
   * @default 1000
   */
  tickMs?: number;
  /**
   * How late a tick must be, in ms, to count as a wake.
   * @default 1000
   */
  jumpMs?: number;
}

/**
 * The default signal source: DOM events plus a wall-clock jump detector. Browsers fire no event
 * when a laptop wakes up, so the only portable sign of a sleep is a timer that fires late; that
 * detector is hand-written because neither socket.io-client nor the platform offers one.
 * Outside a browser (server-side rendering) it only runs the jump detector's timer when started.
 */
export function createBrowserSignals(clock: Clock = systemClock, options: BrowserSignalOptions = {}): SignalSource {
  const tickMs = options.tickMs ?? 1000;
  const jumpMs = options.jumpMs ?? 1000;
  return (emit) => {
    const cleanups: Array<() => void> = [];
    const listen = (target: EventTarget | undefined, type: string, handler: (event: Event) => void, capture = false): void => {
      if (!target) return;
      target.addEventListener(type, handler, capture);
      cleanups.push(() => target.removeEventListener(type, handler, capture));
    };
    const win = typeof window !== 'undefined' ? window : undefined;
    const doc = typeof document !== 'undefined' ? document : undefined;
    listen(win, 'online', () => emit('online'));
    listen(win, 'offline', () => emit('offline'));
    listen(win, 'pageshow', (event) => {
      if ((event as PageTransitionEvent).persisted) emit('restore');
    });
    listen(doc, 'visibilitychange', () => {
      if (doc?.visibilityState === 'visible') emit('visible');
    });
    listen(doc, 'resume', () => emit('resume'));
    listen(win, 'vite:preloadError', () => emit('load-error'));
    // A <script> or <link> that fails fires `error` on itself without bubbling: caught on the way down.
    listen(
      win,
      'error',
      (event) => {
        const element = event.target as { tagName?: unknown; rel?: unknown } | null;
        if (element?.tagName === 'SCRIPT' || (element?.tagName === 'LINK' && /stylesheet|preload/.test(String(element.rel)))) emit('load-error');
      },
      true,
    );
    listen(win, 'unhandledrejection', (event) => {
      const reason = (event as PromiseRejectionEvent).reason as { name?: unknown; message?: unknown } | null;
      if (CHUNK_FAILURE.test(`${String(reason?.name)} ${String(reason?.message)}`)) emit('load-error');
    });
    // Chromium only; not in the DOM typings, hence the structural check.
    const connection = typeof navigator !== 'undefined' ? (navigator as { connection?: unknown }).connection : undefined;
    if (connection instanceof EventTarget) listen(connection, 'change', () => emit('network-change'));

    let last = clock.now();
    let timer: TimerHandle;
    const tick = (): void => {
      const now = clock.now();
      if (now - last > tickMs + jumpMs) emit('wake');
      last = now;
      timer = clock.setTimeout(tick, tickMs);
    };
    timer = clock.setTimeout(tick, tickMs);
    cleanups.push(() => clock.clearTimeout(timer));

    return () => cleanups.splice(0).forEach((cleanup) => cleanup());
  };
}

/** The part of the Web Locks API (`navigator.locks`) that sharing one connection across tabs uses. */
export interface TabLocks {
  /**
   * `navigator.locks.request(name, options, callback)`: the lock is held until the promise the
   * callback returns settles. With `ifAvailable` the callback gets `null` at once when the lock is
   * held elsewhere (nothing is left pending); with `steal` a held lock is taken over, and its
   * holder's `request()` promise rejects with an `AbortError`.
   */
  request(name: string, options: { ifAvailable?: boolean; steal?: boolean }, callback: (lock: unknown) => unknown): Promise<unknown>;
}

/** One end of a BroadcastChannel: what other tabs of this origin post on the same name. */
export interface TabChannel {
  /** Posts to every other tab listening on the channel (not to this one). */
  post(message: unknown): void;
  /** Starts hearing messages; returns its unsubscribe. */
  listen(handler: (message: unknown) => void): () => void;
  /** Closes the channel. */
  close(): void;
}

/**
 * The page's lifecycle as the tab sharing needs it: `hide` (`pagehide`: closed, navigated away or
 * into the back/forward cache), `freeze` (Page Lifecycle `freeze`), `restore` (`pageshow` from the
 * back/forward cache) and `resume` (Page Lifecycle `resume`).
 */
export type LifecycleEvent = 'hide' | 'freeze' | 'restore' | 'resume';

/** What tabs of one origin share: locks, channels, and whether this one is visible. Injectable for tests. */
export interface TabEnvironment {
  locks: TabLocks;
  /** Opens the channel `name`. */
  openChannel(name: string): TabChannel;
  /** Whether this tab is visible now (`document.visibilityState`). */
  isVisible(): boolean;
  /** A source of lifecycle events, `setup(emit) => cleanup`. */
  lifecycle(emit: (event: LifecycleEvent) => void): () => void;
}

/**
 * The browser's tab environment, or `null` where Web Locks (`navigator.locks`) or
 * `BroadcastChannel` is missing (Safari before 15.4, old browsers, server-side rendering): then each
 * tab keeps its own connection.
 */
export function createBrowserTabs(): TabEnvironment | null {
  const locks = typeof navigator !== 'undefined' ? (navigator as { locks?: TabLocks }).locks : undefined;
  if (!locks || typeof BroadcastChannel === 'undefined' || typeof window === 'undefined') return null;
  return {
    locks,
    openChannel(name) {
      const channel = new BroadcastChannel(name);
      return {
        post: (message) => channel.postMessage(message),
        listen(handler) {
          const onMessage = (event: MessageEvent): void => handler(event.data);
          channel.addEventListener('message', onMessage);
          return () => channel.removeEventListener('message', onMessage);
        },
        close: () => channel.close(),
      };
    },
    isVisible: () => typeof document === 'undefined' || document.visibilityState !== 'hidden',
    lifecycle(emit) {
      const onHide = (): void => emit('hide');
      const onShow = (event: PageTransitionEvent): void => {
        if (event.persisted) emit('restore');
      };
      const onFreeze = (): void => emit('freeze');
      const onResume = (): void => emit('resume');
      window.addEventListener('pagehide', onHide);
      window.addEventListener('pageshow', onShow);
      document.addEventListener('freeze', onFreeze);
      document.addEventListener('resume', onResume);
      return () => {
        window.removeEventListener('pagehide', onHide);
        window.removeEventListener('pageshow', onShow);
        document.removeEventListener('freeze', onFreeze);
        document.removeEventListener('resume', onResume);
      };
    },
  };
}
