// The options of createBridge, their documentation and their defaults, in one place.
import type { Server as HttpServer } from 'node:http';
import type { AuthorizeHook } from './authorize.js';
import type { BridgeLogger } from './logger.js';
import { createConsoleLogger } from './logger.js';
import type { RateLimit } from './rate-limit.js';

/** Options of {@link createBridge}. Every one has a default; `{}` gives a working bridge. */
export interface BridgeOptions {
  /**
   * An existing http.Server to attach to (page, API and socket.io then share one origin). The
   * bridge does not call `listen()` on it. Without it the bridge creates and listens on its own.
   * @default undefined (the bridge owns its server)
   */
  server?: HttpServer;
  /**
   * Port to listen on when the bridge owns its server; `0` picks a free one (see `bridge.port`).
   * @default 3001
   */
  port?: number;
  /**
   * Interface to listen on when the bridge owns its server. Put the bridge behind a reverse
   * proxy, or use `'0.0.0.0'` to take connections from other hosts.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Redis to use for pub/sub, the version key and the socket.io adapter. Without it the bridge
   * runs an embedded in-memory bus: one process, nothing to install.
   * @default undefined (embedded bus)
   */
  redisUrl?: string;
  /**
   * Redis channel carrying record changes: JSON `{ resource, action, id, obj?, scope? }`. A
   * change without `scope` goes to every client subscribed to the resource (and to plain
   * socket.io-clients, unless the resource is in `privateResources`); a change with `scope`
   * (e.g. `"user:42"`, `"account:7"`) goes only to clients subscribed to that resource with that
   * scope, which the app authorised. Example: `PUBLISH rt-change '{"resource":"orders","action":"create","id":9,"scope":"user:42"}'`.
   * @default 'rt-change'
   */
  changeChannel?: string;
  /**
   * socket.io event that carries a change to browsers.
   * @default 'rt-change'
   */
  changeEvent?: string;
  /**
   * Redis key holding the current app version (the plain name); sent to every socket when it
   * connects. The deploy commands keep the deploy record, sequence and history beside it in
   * `<versionKey>:deploy`, `:seq` and `:history` (see versions.ts).
   * @default 'app-version'
   */
  versionKey?: string;
  /**
   * Redis channel on which a deploy publishes the new version: a plain string, or the ordered
   * form as JSON `{ version, build?, … }`. The deploy commands publish the record on
   * `<versionChannel>:deploy` first, then the name here.
   * @default 'app-version'
   */
  versionChannel?: string;
  /**
   * socket.io event that carries the version to browsers: `{ version, build, deploy, … }` to
   * live-updates clients when the version is ordered, the plain name to plain socket.io-clients
   * and for unordered versions.
   * @default 'app-version'
   */
  versionEvent?: string;
  /**
   * socket.io event telling browsers they may have missed changes (payload `{ reason }`).
   * @default 'lu:resync'
   */
  resyncEvent?: string;
  /**
   * Origins allowed to connect, e.g. `['https://app.example.com']`. Checked on both HTTP
   * long-polling (CORS) and the WebSocket handshake; requests without an `Origin` header
   * (non-browser clients) are let through. `'*'` allows every origin.
   * @default '*'
   */
  origins?: '*' | readonly string[];
  /**
   * socket.io path, as the client's `path` option.
   * @default '/socket.io'
   */
  path?: string;
  /**
   * Milliseconds between server pings. With `pingTimeout`, a client that stops answering is
   * dropped within `pingInterval + pingTimeout` (15 s by default, socket.io's own is 45 s), and a
   * client sees a dead server as fast.
   * @default 10000
   */
  pingInterval?: number;
  /**
   * Milliseconds to wait for a pong before the connection is considered dead.
   * @default 5000
   */
  pingTimeout?: number;
  /**
   * Path of the health endpoint (`GET` → 200 `{ ok, redis, clients }`), or `false` for none.
   * @default '/healthz'
   */
  healthPath?: string | false;
  /**
   * Channel prefix of the socket.io Redis adapter; must equal the `key` of any
   * `@socket.io/redis-emitter` that backends use. An emitter's `emit` reaches every socket,
   * past the bridge's rooms: for a private or scoped change, emit to its room
   * (`emitter.to(roomOf(resource, scope)).emit(...)`) or publish on `changeChannel` instead.
   * @default 'socket.io'
   */
  adapterKey?: string;
  /**
   * Unscoped resources that are private: a subscription to one needs the app's permission, and
   * its changes never reach plain socket.io-clients. Every scoped subscription (`scope` set) is
   * private anyway. Other resources are public: any connection may subscribe.
   * @default []
   */
  privateResources?: readonly string[];
  /**
   * The app's authorisation endpoint for private subscriptions, as Pusher's `/pusher/auth`. The
   * bridge POSTs JSON `{ socket_id, resource, scope }` (`scope` is `null` when unscoped) with the
   * connection's `cookie` and `authorization` headers (or `Authorization: Bearer <auth.token>`
   * when the client passed a token and no header). 2xx allows; 401/403 refuse (`forbidden`);
   * anything else, a redirect or a timeout refuses as `unavailable`. It is asked on every
   * connection (so every reconnect re-checks) and every live subscribe. When it relies on
   * cookies, set `origins`: with `'*'` any site's page could subscribe with its visitors'
   * cookies (the bridge warns at start).
   * @default undefined (no HTTP check)
   */
  authUrl?: string;
  /**
   * A check of private subscriptions in-process, e.g. `createTokenAuthorizer({ secret })` for
   * tokens the app signed with `signToken`. Resolve `true` to allow; `false` refuses
   * (`forbidden`); a throw or rejection refuses as `unavailable`. With `authUrl` as well, both
   * must allow. With neither, every private subscription is refused (`forbidden`).
   * @default undefined
   */
  authorize?: AuthorizeHook;
  /**
   * How long an `authUrl` request may take, in ms, before the subscription is refused as
   * `unavailable`. A connection's whole handshake list is given twice this, so a slow auth
   * service delays a connection by at most `2 × authTimeoutMs`.
   * @default 3000
   */
  authTimeoutMs?: number;
  /**
   * Largest message a client may send, in bytes (socket.io's `maxHttpBufferSize`); a larger
   * one closes its connection. The client sends only its handshake and (un)subscribes.
   * @default 100000
   */
  maxHttpBufferSize?: number;
  /**
   * How fast one connection may send events (subscribe, unsubscribe, anything): `burst` at
   * once, then `perSecond`. Over it, a subscribe is refused as `rate-limited` and other events
   * are dropped; a connection that goes on past 4 × `burst` refused events in a row is disconnected.
   * @default { burst: 50, perSecond: 10 }
   */
  subscribeRate?: RateLimit;
  /**
   * Most subscriptions (rooms) one connection may hold, handshake list included; more are refused as `invalid`.
   * @default 200
   */
  maxSubscriptions?: number;
  /**
   * Longest resource or scope name, in characters; longer ones are refused as `invalid`.
   * @default 128
   */
  maxNameLength?: number;
  /**
   * Largest change message relayed, in characters of JSON; larger ones are dropped (and
   * `publishChange` rejects them), so no browser is sent more than it should parse.
   * @default 1000000
   */
  maxChangeSize?: number;
  /**
   * Refetching clients per second this process lets through after a gap many clients share (a
   * restart, a network drop): each returning client is told its slot, 1/rate apart, so the app's
   * API sees at most this many clients refetching per second however many come back; a lone
   * client that reconnects refetches at once. `0` turns slots off (clients then spread their
   * refetches at random over their own `refetchSpreadMs`). Chosen from `npm run bench`'s restart
   * storm: see the README.
   * @default 80
   */
  refetchRate?: number;
  /**
   * Latest slot handed out, in ms from the client's return: no client waits longer than this to
   * catch up. Past the window's capacity (`refetchRate × maxRefetchDelayMs`) clients get a
   * uniformly random delay within it, so the rate rises but stays flat.
   * @default 30000
   */
  maxRefetchDelayMs?: number;
  /**
   * On `close()` (the CLI: SIGTERM, SIGINT), how long to take disconnecting this process's
   * clients, in ms: they are told to leave in even batches over this time instead of all at once,
   * so a rolling restart of N processes does not become one reconnect wave. Meanwhile new
   * connections are refused and `/healthz` answers 503, so a load balancer sends them to the other
   * processes (new sessions get 503, which a balancer retries elsewhere); changes keep flowing to the clients not yet told. `0`: all at once.
   * @default 0
   */
  drainMs?: number;
  /**
   * Most changes kept per resource (and scope) in the change log, so that a client back from a
   * gap is sent what it missed instead of refetching (see the README's "Replay"). `0` turns the
   * log off: changes then carry no offsets and every gap refetches, as with plain PUBLISH.
   * @default 1000
   */
  logMaxLength?: number;
  /**
   * How long a change stays in the log, in ms: a client away longer than this refetches. 10
   * minutes covers a coffee break with the lid closed and a bridge's rolling restart; the memory
   * it costs is the changes published in that time (at most `logMaxLength` per log).
   * @default 600000
   */
  logMaxAgeMs?: number;
  /**
   * Prefix of the log's Redis keys (`<prefix>s:…` streams, `<prefix>m:…` hashes). Every bridge
   * process and publisher of one Redis must use the same log options: the last bridge to start
   * loads the Redis functions (`lu_publish`, `lu_since`, `lu_unlogged`) with its own.
   * @default 'lu:log:'
   */
  logKeyPrefix?: string;
  /**
   * After Redis comes back, clients are told to refetch at once and again this many ms later:
   * publishers' own Redis connections may return after the bridge's, and a change committed
   * while its PUBLISH failed reaches nobody live. `0` sends only the first.
   * @default 5000
   */
  resyncAgainMs?: number;
  /**
   * Where the bridge logs (never throws, never crashes on a bad message or a Redis outage).
   * @default console with the prefix '[live-updates-bridge]'
   */
  logger?: BridgeLogger;
}

/** {@link BridgeOptions} with every default applied. */
export type ResolvedBridgeOptions = Required<Omit<BridgeOptions, 'server' | 'redisUrl' | 'authUrl' | 'authorize'>> &
  Pick<BridgeOptions, 'server' | 'redisUrl' | 'authUrl' | 'authorize'>;

/** Default values of {@link BridgeOptions}. */
export const bridgeDefaults = {
  port: 3001,
  host: '127.0.0.1',
  changeChannel: 'rt-change',
  changeEvent: 'rt-change',
  versionKey: 'app-version',
  versionChannel: 'app-version',
  versionEvent: 'app-version',
  resyncEvent: 'lu:resync',
  origins: '*',
  path: '/socket.io',
  pingInterval: 10_000,
  pingTimeout: 5_000,
  healthPath: '/healthz',
  adapterKey: 'socket.io',
  privateResources: [],
  authTimeoutMs: 3000,
  maxHttpBufferSize: 100_000,
  subscribeRate: { burst: 50, perSecond: 10 },
  maxSubscriptions: 200,
  maxNameLength: 128,
  maxChangeSize: 1_000_000,
  refetchRate: 80,
  maxRefetchDelayMs: 30_000,
  drainMs: 0,
  resyncAgainMs: 5000,
  logMaxLength: 1000,
  logMaxAgeMs: 600_000,
  logKeyPrefix: 'lu:log:',
} as const satisfies Partial<BridgeOptions>;

/**
 * Applies the defaults and checks the options. Throws a TypeError for programmer errors (a bad
 * port, an empty channel name), as the style guide wants for bad options.
 */
export function resolveOptions(options: BridgeOptions = {}): ResolvedBridgeOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as BridgeOptions;
  const resolved: ResolvedBridgeOptions = { ...bridgeDefaults, logger: createConsoleLogger(), ...defined };
  const { port, pingInterval, pingTimeout, authTimeoutMs, maxHttpBufferSize, maxSubscriptions, maxNameLength, maxChangeSize } = resolved;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`invalid port: ${String(port)}`);
  for (const [name, value] of Object.entries({ pingInterval, pingTimeout, authTimeoutMs, maxHttpBufferSize, maxSubscriptions, maxNameLength, maxChangeSize, ...prefix('subscribeRate.', resolved.subscribeRate) })) {
    if (!Number.isFinite(value) || value <= 0) throw new TypeError(`invalid ${name}: ${String(value)}`);
  }
  const names = ['changeChannel', 'changeEvent', 'versionKey', 'versionChannel', 'versionEvent', 'resyncEvent', 'path', 'adapterKey', 'logKeyPrefix'] as const;
  for (const name of names) {
    if (typeof resolved[name] !== 'string' || resolved[name].length === 0) throw new TypeError(`${name} must be a non-empty string`);
  }
  for (const name of ['refetchRate', 'maxRefetchDelayMs', 'drainMs', 'resyncAgainMs', 'logMaxLength'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] < 0) throw new TypeError(`invalid ${name}: ${String(resolved[name])}`);
  }
  if (!Number.isInteger(resolved.logMaxLength)) throw new TypeError(`invalid logMaxLength: ${String(resolved.logMaxLength)}`);
  if (!Number.isFinite(resolved.logMaxAgeMs) || resolved.logMaxAgeMs < 1000) throw new TypeError(`invalid logMaxAgeMs: ${String(resolved.logMaxAgeMs)} (at least 1000)`);
  if (resolved.origins !== '*' && !Array.isArray(resolved.origins)) throw new TypeError(`origins must be '*' or an array of origins`);
  if (!Array.isArray(resolved.privateResources) || !resolved.privateResources.every((r) => typeof r === 'string' && r !== '')) throw new TypeError('privateResources must be an array of resource names');
  if (resolved.authUrl !== undefined && !/^https?:\/\//.test(String(resolved.authUrl))) throw new TypeError('authUrl must be an http(s) URL');
  if (resolved.authorize !== undefined && typeof resolved.authorize !== 'function') throw new TypeError('authorize must be a function');
  return resolved;
}

function prefix(name: string, value: RateLimit | undefined): Record<string, unknown> {
  const { burst, perSecond } = value ?? ({} as Partial<RateLimit>);
  return { [`${name}burst`]: burst, [`${name}perSecond`]: perSecond };
}
