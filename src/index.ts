// The public facade: createLiveUpdates() wires the connection, subscriptions, catch-up, router
// and version tracker together and exposes one small object. Events go through mitt; every listener is
// isolated so a throwing app callback never reaches socket.io or the other listeners.
import mitt from 'mitt';
import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import { createCatchUp, MIN_DEADLINE_MS, type RefetchFn } from './catch-up';
import type { ConnectionState, StateInfo } from './connection';
import { createBrowserSignals, createBrowserTabs, systemClock, systemFetch, type Clock, type FetchFn, type SignalSource, type TabEnvironment } from './environment';
import { createError, describe, type LiveUpdatesError } from './errors';
import { createSocketLink, linkUrl, type Link } from './link';
import { parseVersion, type VersionPayload } from './messages';
import { createRouter, type ChangeHandler } from './router';
import { keyOf } from './subscriptions';
import { createSharedLink, type SharedLinkHooks } from './tabs';
import type { AvailableVersion, VersionChange } from './version';
import { createVersionCheck, type ResponseLike } from './version-check';

export type { ConnectionState, StateInfo, StateReason } from './connection';
export type { Clock, Environment, FetchFn, Signal, SignalSource, TimerHandle, BrowserSignalOptions } from './environment';
export type { GapReason, RefetchContext, RefetchFn, RefetchReason } from './catch-up';
export type { LifecycleEvent, TabChannel, TabEnvironment, TabLocks } from './environment';
export { createBrowserSignals, createBrowserTabs, systemClock } from './environment';
export type { LiveUpdatesError, LiveUpdatesErrorCode } from './errors';
export type { Change, ChangeAction, VersionPayload } from './messages';
export type { ChangeHandler } from './router';
export type { AvailableVersion, VersionChange } from './version';
export type { ResponseLike } from './version-check';
export { PROTOCOL } from './subscriptions';

export { RESYNC_EVENT } from './link';

/** Options of {@link createLiveUpdates}. */
export interface LiveUpdatesOptions {
  /**
   * The socket.io server.
   * @default the page's origin (`location.origin`); required outside a browser unless `socket` is given
   */
  url?: string;
  /**
   * An existing socket.io-client Socket to wrap instead of opening one. It is not disconnected by
   * `close()`, and it is reconnected (disconnect + connect) when its link is found dead.
   */
  socket?: Socket;
  /**
   * The event carrying changes `{ resource, action, id, obj }` (objects or JSON strings).
   * @default 'rt-change'
   */
  changeEvent?: string;
  /**
   * The event carrying the deployed version: a string such as a git sha, a number, or
   * `{ version, build?, deploy?, required?, minBuild? }` (what the bridge sends); see
   * {@link VersionPayload} and the README's version rule.
   * @default 'app-version'
   */
  versionEvent?: string;
  /**
   * The version this page was built with: a string, or `{ version, build }` where `build` is a
   * number (a CI build number) or an ISO time, injected at build time (Vite `define`, rollup
   * `replace`). With a build, only newer builds are offered: no downgrade prompt in a rolling
   * deploy. Without it, the first version announced is taken as the running one.
   * @default undefined
   */
  currentVersion?: string | { version: string; build?: number | string };
  /**
   * A file with the deployed version (same shapes as the version event, as JSON or plain text),
   * e.g. `'/version.json'`, asked with conditional requests (ETag → 304) every `versionPollMs`
   * while the socket is connecting or reconnecting, once on wake or when the page is shown again
   * (at most once per `versionPollMs`), and when a script or chunk of the page fails to load
   * (at most once per 5 s). Never while connected: the socket says it then.
   * @default undefined (no polling)
   */
  versionUrl?: string;
  /**
   * Interval of the `versionUrl` poll, in ms; also the least time between two checks on wake.
   * From 1000 to 2³¹−1.
   * @default 60000
   */
  versionPollMs?: number;
  /**
   * The response header {@link LiveUpdates.checkResponse} reads (case-insensitive). A
   * cross-origin API must list it in `Access-Control-Expose-Headers`.
   * @default 'X-App-Version'
   */
  versionHeader?: string;
  /**
   * socket.io `auth`: an object, or a callback asked again on every (re)connect so tokens stay fresh.
   * @default undefined
   */
  auth?: SocketOptions['auth'];
  /**
   * Further socket.io-client options (path, transports, reconnectionDelay, …). `forceNew` defaults
   * to true so that each instance owns its connection; `rememberUpgrade` to true so that a
   * reconnection after a sleep goes straight to a fresh WebSocket.
   * @default { forceNew: true, rememberUpgrade: true }
   */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /**
   * How long a wake-up probe waits for the server's answer before the link is declared dead and
   * replaced, in ms. Keeps "dead link found and replaced" within a second of wake on most networks.
   * @default 500
   */
  probeTimeoutMs?: number;
  /**
   * After a gap that all clients of a server share (server restart, transport close, resync), each
   * refetch waits a random delay in [0, refetchSpreadMs) so returning clients do not stampede the
   * app's API. Against the live-updates bridge the bridge's refetch slot replaces this random
   * delay (see the bridge's `refetchRate`); this spread is what plain socket.io servers get. Gaps
   * local to this page (wake, offline, dead link) refetch at once. 5000 ms: in the restart-storm
   * benchmark it halved the peak of 2000 ms for 2–3 s more until the last client was fresh.
   * @default 5000
   */
  refetchSpreadMs?: number;
  /**
   * Deadline of one refetch attempt, in ms: past it the run's `signal` is aborted and the attempt
   * counts as failed (then it is retried). Once a subscription's refetch has succeeded, its
   * deadline adapts to the measured latency as TCP's retransmission timeout does (RFC 6298:
   * SRTT + 4·RTTVAR, at least 200 ms, doubled per timeout in a row — after the fourth when the
   * gap was this page's own, one per dead pooled connection) and this is its cap. Why it
   * matters: a `fetch` sent after a sleep on a pooled keep-alive connection that died in the sleep
   * hangs until the server's keep-alive timeout (75 s for nginx); aborting it takes the dead
   * connection with it. 10 s: a refetch that needs longer should raise it. From 200 (the adaptive
   * floor) to 2³¹−1; anything else throws a TypeError.
   * @default 10000
   */
  refetchTimeoutMs?: number;
  /**
   * Share one connection among all tabs of this app (same origin, same `url`, `path`,
   * `changeEvent` and `versionEvent`): the tab holding a Web Lock opens the socket and subscribes
   * for every tab's subscriptions; the others are fed over a BroadcastChannel. Each tab keeps its
   * own handlers, `refetch`, state and version rule. A leader that closes, navigates, freezes or
   * falls silent is replaced within seconds, and the hand-over is a gap (reason `'hand-over'`):
   * replayed from the bridge's change log where it can be, else refetched. Scoped subscriptions
   * are not shared: each tab opens its own connection for them, with its own `auth`. Where Web
   * Locks or BroadcastChannel is missing (Safari before 15.4), and with `socket`, each tab keeps
   * its own connection. See the README's "One connection for all tabs".
   * @default false
   */
  shareTabs?: boolean;
  /**
   * Clock, browser signals, `fetch` (for `versionUrl`) and, for `shareTabs`, the tabs' Web Locks,
   * BroadcastChannel, visibility and lifecycle (`null`: as if the browser had none), injectable for tests.
   * @default { clock: systemClock, signals: createBrowserSignals(clock), fetch: systemFetch, tabs: createBrowserTabs() }
   */
  environment?: { clock?: Clock; signals?: SignalSource; fetch?: FetchFn; tabs?: TabEnvironment | null };
}

/** Options of {@link LiveUpdates.subscribe}. */
export interface SubscribeOptions {
  /**
   * Loads this resource's data: once when the subscription becomes live (reason `'subscribed'`;
   * also after 1 s if it is not live by then, for first paint), and again after every gap, so no
   * change is lost. Retried until it succeeds. Changes that arrive while it runs are held and
   * handed to the handler after it settles.
   */
  refetch?: RefetchFn;
  /**
   * Receive only the changes published for this scope (e.g. `'user:42'`), a private subscription
   * the bridge authorises with the app. Without it, the resource's unscoped changes.
   * @default undefined
   */
  scope?: string;
}

/**
 * What {@link LiveUpdates.subscribe} returns: the unsubscribe function (idempotent, safe after
 * `close()`), carrying `ready`.
 */
export interface Unsubscribe {
  (): void;
  /**
   * Resolves once the subscription is live (its changes reach this page: connected, and with the
   * bridge, its room joined) and its `refetch`, if it has one, has succeeded since. Never rejects;
   * stays pending for a subscription that is refused or removed first.
   * @example await live.subscribe('books', render, { refetch: load }).ready;
   */
  readonly ready: Promise<void>;
}

/** A running live-updates instance. */
export interface LiveUpdates {
  /**
   * The connection state: `'connecting'`, `'connected'` (exactly this while live), `'reconnecting'`, `'offline'` or `'closed'`.
   * @example if (live.state !== 'connected') showBadge('reconnecting…');
   */
  readonly state: ConnectionState;
  /** The state with its reason, timestamp and next retry time. */
  readonly status: StateInfo;
  /** The running version: `currentVersion`, or the first version announced; `null` until known. */
  readonly version: string | null;
  /**
   * The version on offer now, `{ version, build?, required }`, or `null`: what the last
   * `onNewVersion` notice said.
   * @example if (live.availableVersion?.required) location.reload();
   */
  readonly availableVersion: AvailableVersion | null;
  /**
   * Calls `listener` whenever the state or its details (reason, next retry) change.
   * @example const off = live.onStateChange((state, { reason, nextRetryAt }) => render(state, reason, nextRetryAt));
   * @returns its unsubscribe
   */
  onStateChange(listener: (state: ConnectionState, info: StateInfo) => void): () => void;
  /**
   * Routes changes of `resource` to `handler`, in order; `refetch` loads the data when the
   * subscription becomes live and after every gap. Delivery is at-least-once with respect to the
   * loaded data (a change may already be in the snapshot the refetch loaded): make the handler
   * idempotent by `id` (set or delete by id).
   * @example
   * const off = live.subscribe('books', (change) => store.apply(change), {
   *   refetch: async ({ signal }) => store.replace(await (await fetch('/books', { signal })).json()),
   * });
   * @returns its unsubscribe, with `ready`
   */
  subscribe(resource: string, handler: ChangeHandler, options?: SubscribeOptions): Unsubscribe;
  /**
   * Runs the `refetch` of every subscription of `resource` (of that `scope` only, when given) now, through the same
   * cycle as after a gap: coalesced with a run in flight, changes held meanwhile, retried until it
   * succeeds. For a change published without its record, say; reason `'requested'`.
   * @example live.subscribe('books', (change) => change.obj ? apply(change) : live.refetch('books'), { refetch: load });
   */
  refetch(resource: string, scope?: string): void;
  /**
   * Calls `listener` each time the version on offer changes: a newer version was deployed
   * (`{ current, latest, required, build? }`), the offer was replaced (a rollback to a build
   * still newer than this page's), or withdrawn (`latest: null`, after a rollback to this page's
   * build or an older one; only servers that number their deploys, as the bridge does, withdraw).
   * A listener added later hears the current offer at once.
   * @example live.onNewVersion(({ latest, required }) => (latest ? showBanner(latest, required) : hideBanner()));
   * @returns its unsubscribe
   */
  onNewVersion(listener: (change: VersionChange) => void): () => void;
  /**
   * Reads the version header (`versionHeader`, `X-App-Version` by default) of one of the app's
   * own API responses and treats it as an announcement. A response without it is ignored.
   * Throws a TypeError for something without `headers.get`.
   * @example const response = await fetch('/api/books'); live.checkResponse(response);
   */
  checkResponse(response: ResponseLike): void;
  /**
   * Calls `listener` for every run-time problem (malformed message, throwing handler, failed refetch, refused connection).
   * @example live.onError((error) => console.warn(error.code, error.message));
   * @returns its unsubscribe
   */
  onError(listener: (error: LiveUpdatesError) => void): () => void;
  /**
   * Stops everything: listeners, timers, browser signals, pending refetches, and the socket if it was opened here.
   * @example window.addEventListener('pagehide', () => live.close());
   */
  close(): void;
}

type Events = { state: StateInfo; version: VersionChange; error: LiveUpdatesError };

/** The longest delay a browser or Node timer takes (2³¹−1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

function checkOptions(options: LiveUpdatesOptions): void {
  for (const key of ['changeEvent', 'versionEvent', 'versionUrl', 'versionHeader'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new TypeError(`live-updates: \`${key}\` must be a non-empty string.`);
  }
  if (options.shareTabs !== undefined && typeof options.shareTabs !== 'boolean') throw new TypeError('live-updates: `shareTabs` must be a boolean.');
  // Timers take at most 2³¹−1 ms; a longer one fires at once.
  for (const [key, min] of [['probeTimeoutMs', 0], ['refetchSpreadMs', 0], ['refetchTimeoutMs', MIN_DEADLINE_MS], ['versionPollMs', 1000]] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && value >= min && value <= MAX_TIMER_MS)) throw new TypeError(`live-updates: \`${key}\` must be a number of ms from ${min} to ${MAX_TIMER_MS}.`);
  }
}

/**
 * Connects to a socket.io server and returns the live-updates instance.
 * Throws only for programmer errors (bad options); everything at run time is an error event.
 * @example
 * const live = createLiveUpdates({ url: location.origin, versionEvent: 'frontend-app-version' });
 * live.subscribe('books', (change) => console.log(change.action, change.id));
 */
export function createLiveUpdates(options: LiveUpdatesOptions = {}): LiveUpdates {
  checkOptions(options);
  const built = options.currentVersion;
  const initial = parseVersion(built);
  // An unreadable build would silently make every announcement unordered: a programmer error.
  if (!initial.ok || (built && typeof built === 'object' && built.build !== undefined && !initial.value?.build)) {
    throw new TypeError('live-updates: `currentVersion` must be a string or { version, build? } (build: a number, digits or an ISO time).');
  }
  const clock = options.environment?.clock ?? systemClock;
  const signals = options.environment?.signals ?? createBrowserSignals(clock);
  const changeEvent = options.changeEvent ?? 'rt-change';
  const versionEvent = options.versionEvent ?? 'app-version';

  const emitter = mitt<Events>();
  const report = (error: LiveUpdatesError): void => emitter.emit('error', error);
  /** mitt calls handlers without isolation and its `on` returns nothing: wrap both. */
  const listen = <K extends keyof Events>(type: K, listener: (event: Events[K]) => void): (() => void) => {
    const safe = (event: Events[K]): void => {
      try {
        listener(event);
      } catch (cause) {
        // An error listener that throws must not recurse into itself.
        if (type !== 'error') report(createError('handler-error', `${type} listener threw: ${describe(cause)}`, { cause }));
      }
    };
    emitter.on(type, safe);
    return () => emitter.off(type, safe);
  };

  const reportHandlerError = (resource: string, cause: unknown): void => report(createError('handler-error', `handler for "${resource}" threw: ${describe(cause)}`, { resource, cause }));
  const router = createRouter(reportHandlerError);
  const versions = createVersionCheck({
    initial: initial.value,
    url: options.versionUrl,
    intervalMs: options.versionPollMs ?? 60_000,
    header: options.versionHeader ?? 'X-App-Version',
    clock,
    fetch: options.environment?.fetch ?? systemFetch,
    notify: (change) => emitter.emit('version', change),
    report,
  });
  const catchUp = createCatchUp({
    clock,
    spreadMs: options.refetchSpreadMs ?? 5000,
    timeoutMs: options.refetchTimeoutMs ?? 10_000,
    isLive: (key) => link.isLive(key),
    onRefetchFailed({ resource, scope, attempt, timedOutAfterMs, cause }) {
      const why = timedOutAfterMs === undefined ? describe(cause) : `no answer within ${timedOutAfterMs} ms (aborted)`;
      report(createError('refetch-failed', `refetch of "${resource}" failed (attempt ${attempt}): ${why}; retrying`, { resource, ...(scope === undefined ? {} : { scope }), attempt, cause }));
    },
    onHandlerError: reportHandlerError,
  });

  // What a connection (this tab's own, or the one the tabs share) tells this instance.
  const hooks: SharedLinkHooks = {
    change: (change) => router.dispatch(change),
    state(info) {
      versions.state(info.state);
      emitter.emit('state', info);
    },
    version: (payload, source, from) => versions.receive(payload, source, from),
    live: (key) => catchUp.live(key),
    unlive: (key) => catchUp.unlive(key),
    lost: (only) => catchUp.lost(only),
    gap: (reason, covered, only) => catchUp.gap(reason, covered, only),
    recovered: () => catchUp.recovered(),
    refused({ resource, scope, code, message }, retryInMs) {
      // Refused for good (until the next connection): its data cannot be kept live, so no loads.
      if (retryInMs === null) catchUp.refused(keyOf(resource, scope));
      const what = scope === undefined ? `"${resource}"` : `"${resource}" (scope "${scope}")`;
      const where = { resource, ...(scope === undefined ? {} : { scope }) };
      const why = message ? `: ${message}` : '';
      if (code === 'forbidden') report(createError('forbidden', `not allowed to subscribe to ${what}${why}`, where));
      else report(createError('subscribe-failed', `subscription to ${what} refused (${code})${why}${retryInMs === null ? '' : `; asking again in ${retryInMs} ms`}`, where));
    },
    slot: (delayMs) => catchUp.reschedule(delayMs),
    report,
  };
  const linkOptions = {
    url: options.url,
    socket: options.socket,
    socketOptions: options.socketOptions,
    auth: options.auth,
    changeEvent,
    versionEvent,
    probeTimeoutMs: options.probeTimeoutMs ?? 500,
    clock,
  };
  const tabs = options.shareTabs && !options.socket ? (options.environment?.tabs === undefined ? createBrowserTabs() : options.environment.tabs) : null;
  const link: Link = tabs
    ? createSharedLink(
        {
          tabs,
          name: `live-updates:${linkUrl(options.url)}|${options.socketOptions?.path ?? '/socket.io'}|${changeEvent}|${versionEvent}`,
          clock,
          open: (linkHooks, extra) => createSocketLink({ ...linkOptions, ...extra }, linkHooks),
        },
        hooks,
      )
    : createSocketLink(linkOptions, { ...hooks, lost: () => hooks.lost(() => true), gap: (reason, covered) => hooks.gap(reason, covered, () => true), position: () => {} });
  const stopSignals = signals((signal) => {
    if (signal !== 'load-error') link.signal(signal);
    versions.signal(signal);
  });
  let closed = false;

  return {
    get state() {
      return link.info().state;
    },
    get status() {
      return link.info();
    },
    get version() {
      return versions.current();
    },
    get availableVersion() {
      return versions.available();
    },
    onStateChange: (listener) => listen('state', (info) => listener(info.state, info)),
    subscribe(resource, handler, subscribeOptions = {}) {
      if (typeof resource !== 'string' || resource === '') throw new TypeError('live-updates: subscribe() needs a non-empty resource name.');
      if (typeof handler !== 'function') throw new TypeError('live-updates: subscribe() needs a handler function.');
      const { refetch, scope } = subscribeOptions;
      if (scope !== undefined && (typeof scope !== 'string' || scope === '')) throw new TypeError('live-updates: `scope` must be a non-empty string.');
      if (closed) return Object.assign(() => {}, { ready: new Promise<void>(() => {}) });
      const subscription = link.add(resource, scope);
      const member = catchUp.add(subscription.key, resource, scope, handler, refetch);
      const releases = [router.add(resource, member.deliver, scope), member.release, subscription.release];
      return Object.assign(() => releases.forEach((release) => release()), { ready: member.ready });
    },
    refetch(resource, scope) {
      if (!closed) catchUp.refetch(resource, scope);
    },
    onNewVersion(listener) {
      const off = listen('version', listener);
      const pending = versions.pending();
      let active = true;
      if (pending) queueMicrotask(() => active && listener(pending));
      return () => {
        active = false;
        off();
      };
    },
    checkResponse: (response) => versions.checkResponse(response),
    onError: (listener) => listen('error', listener),
    close() {
      if (closed) return;
      closed = true;
      stopSignals();
      versions.close();
      catchUp.clear();
      link.close();
      router.clear();
      emitter.all.clear();
    },
  };
}
