// One socket.io connection and what rides on it: the connection's state and gaps
// (connection.ts), the bridge protocol (subscriptions.ts) and the change log's replay
// (replay.ts). What it hears goes out through `LinkHooks`, to the instance's own catch-up and
// router (index.ts) or, when tabs share one connection, to every tab (tabs.ts). Extracted from
// index.ts so that a leader tab can open one and a follower tab none.
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { isSharedGap, type GapReason } from './catch-up';
import { createConnection, type Connection, type StateInfo } from './connection';
import type { Clock, Signal } from './environment';
import { createError, describe, type LiveUpdatesError } from './errors';
import { parseChange, parseResync, type Change, type Refusal } from './messages';
import { createReplay, type Position } from './replay';
import { createSubscriptions } from './subscriptions';

/** The event the bridge sends when clients may have missed changes (e.g. after a Redis outage). */
export const RESYNC_EVENT = 'lu:resync';

/** What a link tells the instance (or the tabs) it serves. */
export interface LinkHooks {
  /** A validated change, deduplicated against the change log's positions, in order. */
  change(change: Change): void;
  /** The connection's state changed. */
  state(info: StateInfo): void;
  /**
   * A version announcement, unparsed (each tab compares it with its own build); `from`: `'connect'`
   * for the first of a new connection (the server's word now), else `'socket'`.
   */
  version(payload: unknown, source: string, from: 'socket' | 'connect'): void;
  /** Changes of `key` reach this link from now on. */
  live(key: string): void;
  /** Changes of `key` no longer reach it without a connection gap (refused, asked again). */
  unlive(key: string): void;
  /** The link is down: nothing is live. */
  lost(): void;
  /** A gap closed: reload what the change log did not cover. Returns how many subscriptions reload. */
  gap(reason: GapReason, covered: ReadonlySet<string>): number;
  /** socket.io recovered the session: reloads left unfinished by a gap run now. */
  recovered(): void;
  /** A subscription was refused; `retryInMs` when it is asked again. */
  refused(refusal: Refusal, retryInMs: number | null): void;
  /** The bridge's refetch slot: reloads waiting out a spread run in `delayMs`. */
  slot(delayMs: number): void;
  /** A subscription's position in its change log moved without a change (acknowledged, greeted). */
  position(key: string, position: Position): void;
  /** A run-time problem. */
  report(error: LiveUpdatesError): void;
}

/** One connection carrying subscriptions. */
export interface Link {
  /** Counts one more subscriber of (resource, scope); returns its key and idempotent release. */
  add(resource: string, scope: string | undefined): { key: string; release: () => void };
  /** Whether changes of `key` reach this link now. */
  isLive(key: string): boolean;
  /** The connection's state. */
  info(): StateInfo;
  /** Whether a gap is still to be closed (its greeting awaited): reloads are not decided yet. */
  settling(): boolean;
  /** A browser signal (wake, online, visible…). */
  signal(signal: Signal): void;
  /** Detaches; disconnects a socket it opened itself. */
  close(): void;
}

/** Options of {@link createSocketLink}: the instance's, as far as its connection goes. */
export interface SocketLinkOptions {
  /** The server (`LiveUpdatesOptions.url`; the page's origin when absent). */
  url: string | undefined;
  /** A socket to wrap instead of opening one (left connected by `close()`). */
  socket: Socket | undefined;
  /** Further socket.io-client options. */
  socketOptions: Partial<ManagerOptions & SocketOptions> | undefined;
  /** socket.io `auth`: this tab's own credentials. */
  auth: SocketOptions['auth'] | undefined;
  /** The event carrying changes. */
  changeEvent: string;
  /** The event carrying versions. */
  versionEvent: string;
  /** The wake probe's deadline, ms. */
  probeTimeoutMs: number;
  clock: Clock;
  /** Where the subscriptions stand in their change logs already (a tab taking over from another). */
  positions?: ReadonlyMap<string, Position>;
  /** The first connection closes a gap of its own (`'hand-over'`): another link served until now. */
  handOver?: boolean;
}

function resolveUrl(url: string | undefined): string {
  if (url) return url;
  if (typeof location !== 'undefined' && location.origin && location.origin !== 'null') return location.origin;
  throw new TypeError('live-updates: `url` is required outside a browser (or pass `socket`).');
}

/** The socket's URL as `createSocketLink` would resolve it; throws the same TypeError. */
export const linkUrl = resolveUrl;

/** Opens (or wraps) a socket and wires the connection, subscriptions and replay onto it. */
export function createSocketLink(options: SocketLinkOptions, hooks: LinkHooks): Link {
  const { clock, changeEvent, versionEvent } = options;
  const ownsSocket = !options.socket;
  // rememberUpgrade: once a WebSocket has worked, reconnect with one directly. After a sleep, the
  // browser's pooled keep-alive connections to the server may be as dead as the old link, and a
  // long-polling handshake sent on one hangs until socket.io's 20 s timeout; a WebSocket always
  // opens a fresh connection. socket.io falls back to polling by itself if the WebSocket fails.
  const socket = options.socket ?? io(resolveUrl(options.url), { forceNew: true, rememberUpgrade: true, ...options.socketOptions, ...(options.auth ? { auth: options.auth } : {}) });
  const invalid = (reason: string, cause: unknown): void => hooks.report(createError('invalid-message', `dropped malformed "${changeEvent}" message: ${reason}`, { cause }));

  /** A gap whose catch-up waits for the greeting: the change log may cover it. */
  let pendingGap: GapReason | null = null;
  let handOver = options.handOver === true;
  /** Reloads what the change log did not cover; a gap it covered entirely is `'replayed'`. */
  const closeGap = (reason: GapReason, covered: ReadonlySet<string>): void => {
    if (hooks.gap(reason, covered) === 0 && covered.size > 0) connection?.replayed();
  };
  const replay = createReplay({
    clock,
    deliver: (change) => hooks.change(change),
    onInvalid: invalid,
    onGreetingMissed() {
      if (pendingGap) closeGap(pendingGap, new Set());
      pendingGap = null;
    },
    ...(options.positions ? { positions: options.positions } : {}),
    onAdvance: (key, position) => hooks.position(key, position),
  });
  const onChange = (payload: unknown): void => {
    const parsed = parseChange(payload);
    if (parsed.ok) replay.receive(parsed.value);
    else invalid(parsed.reason, parsed.cause);
  };
  /** The next version message is the first of a new connection: the server's word now (the bridge sends one on connecting). */
  let freshConnection = false;
  const onVersion = (payload: unknown): void => {
    hooks.version(payload, `"${versionEvent}" message`, freshConnection ? 'connect' : 'socket');
    freshConnection = false;
  };
  const onResync = (payload: unknown): void => {
    parseResync(payload);
    hooks.gap('server-resync', new Set());
  };
  socket.on(changeEvent, onChange);
  socket.on(versionEvent, onVersion);
  socket.on(RESYNC_EVENT, onResync);

  // Assigned right below; the handshake that asks (socket.io's `auth` callback) comes later.
  let connection: Connection | undefined;
  const subscriptions = createSubscriptions(socket, {
    clock,
    onRefused: (refusal, retryInMs) => hooks.refused(refusal, retryInMs),
    onLive: (key) => hooks.live(key),
    onUnlive: (key) => hooks.unlive(key),
    wantsRefetchSlot() {
      const gap = connection?.pendingGap();
      return gap !== undefined && gap !== null && isSharedGap(gap);
    },
    onRefetchSlot: (delayMs) => hooks.slot(delayMs),
    positionOf: (key) => replay.positionOf(key),
    onGreeting(lines) {
      const covered = replay.greeted(lines);
      if (pendingGap) closeGap(pendingGap, covered);
      pendingGap = null;
    },
    onPosition: (key, position) => replay.acknowledged(key, position),
    onReleased: (key) => replay.forget(key),
  });
  const onGap = (reason: GapReason): void => {
    if (replay.awaiting()) pendingGap = reason;
    else closeGap(reason, replay.covered());
  };
  connection = createConnection(socket, {
    clock,
    probeTimeoutMs: options.probeTimeoutMs,
    onState: (info) => hooks.state(info),
    onUp() {
      freshConnection = true;
      replay.connected();
      subscriptions.connected();
      // Taking over from another link: what was missed meanwhile is this first connection's gap.
      if (handOver && connection?.info().reason === 'connected') {
        handOver = false;
        onGap('hand-over');
      }
    },
    onDown() {
      pendingGap = null;
      replay.lost();
      hooks.lost();
    },
    onGap,
    onRecovered: () => hooks.recovered(),
    onConnectError: (cause) => hooks.report(createError('connect-error', `could not connect: ${describe(cause)}`, { cause })),
    onKicked: (delayMs) => hooks.report(createError('kicked', `the server ended the connection right after accepting it; trying again in ${delayMs} ms`)),
  });

  return {
    add: (resource, scope) => subscriptions.add(resource, scope),
    isLive: (key) => subscriptions.isLive(key),
    info: () => connection.info(),
    settling: () => handOver || pendingGap !== null,
    signal: (signal) => connection.signal(signal),
    close() {
      socket.off(changeEvent, onChange);
      socket.off(versionEvent, onVersion);
      socket.off(RESYNC_EVENT, onResync);
      replay.close();
      subscriptions.close();
      connection.close(ownsSocket);
    },
  };
}
