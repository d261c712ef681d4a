// live-updates-bridge (its own package, packages/live-updates-bridge, built from here): the Node
// server between Redis (or an embedded bus) and the browsers.
// This module wires the parts together; each part lives in its own module.
import type { Server as HttpServer } from 'node:http';
import type { Server as IoServer, Socket } from 'socket.io';
import type { Bus } from './bus.js';
import { createMemoryBus } from './bus.js';
import { createRedisBus } from './redis-bus.js';
import { boundPort, createHealthHandler, createOwnedServer, interceptRequests, listen, refuseNewSessions } from './http.js';
import type { HealthReport } from './http.js';
import { describeError } from './logger.js';
import { checkChange, parseChangeMessage, parseVersionAnnouncement } from './messages.js';
import type { Change, VersionMessage } from './messages.js';
import { resolveOptions } from './options.js';
import type { BridgeOptions } from './options.js';
import { createIoServer } from './server.js';
import { createAuthorizer, createPrivacyRule } from './authorize.js';
import { attachProtocol } from './protocol.js';
import { createRefetchSlots } from './refetch-slots.js';
import { createMemoryLog } from './change-log.js';
import type { ChangeLog } from './change-log.js';
import { STAMP_ROOM } from './redis-log.js';
import { LEGACY_ROOM } from './rooms.js';
import { createMemoryVersions, versionKeys } from './versions.js';
import type { Deploy, DeployOptions, VersionHistory } from './versions.js';

export type { BridgeOptions, ResolvedBridgeOptions } from './options.js';
export { bridgeDefaults } from './options.js';
export type { BridgeLogger } from './logger.js';
export { createConsoleLogger, createSilentLogger } from './logger.js';
export type { Change, ChangeAction, ParseResult } from './messages.js';
export type { VersionMessage } from './messages.js';
export { parseChangeMessage, parseVersionAnnouncement, parseVersionMessage } from './messages.js';
export type { Deploy, DeployOptions, VersionHistory } from './versions.js';
export { HISTORY_LENGTH } from './versions.js';
export type { HealthReport } from './http.js';
export type { Bus, BusStatus } from './bus.js';
export type { AuthRequest, AuthorizeHook, RefusalCode } from './authorize.js';
export type { RateLimit } from './rate-limit.js';
export type { Refusal } from './protocol.js';
export { PROTOCOL_EVENTS } from './protocol.js';
export { LEGACY_ROOM, roomOf } from './rooms.js';
export type { TokenPayload, TokenAuthorizerOptions } from './tokens.js';
export { createTokenAuthorizer, signToken, verifyToken } from './tokens.js';

/** Payload of the resync event: why clients should refetch. */
export interface ResyncPayload {
  /** e.g. `'redis-reconnect'`. */
  reason: string;
}

/** A running bridge. Plain object; methods can be destructured. */
export interface Bridge {
  /**
   * The socket.io server (for extra namespaces, middleware, metrics). Each connection's
   * `socket.request` is let go after the main namespace's handshake (server.ts says why): read
   * `socket.handshake`, or `socket.request` in a middleware.
   */
  readonly io: IoServer;
  /** The http.Server socket.io is attached to (the bridge's own, or the one given). */
  readonly httpServer: HttpServer;
  /** The bound port; `undefined` while a borrowed server is not listening yet. */
  readonly port: number | undefined;
  /** Which bus is in use: `'redis'` or `'embedded'`. */
  readonly busKind: Bus['kind'];
  /**
   * Publishes a record change on the change channel, as a backend model callback would. Every
   * client of every bridge process that subscribed to it (and, for a public unscoped change,
   * every plain socket.io-client) receives it once. Set `scope` (e.g. `'user:42'`) for a change
   * meant only for the clients allowed that scope. With the change log on (the default), the
   * change is appended to its log and published in one atomic step, with `offset` and `epoch`
   * added, so that clients back from a gap are sent it. Rejects (TypeError) for an invalid or too
   * large change; rejects with Redis's error while Redis is down.
   * @example
   * await bridge.publishChange({ resource: 'books', action: 'update', id: 7, obj: book });
   * await bridge.publishChange({ resource: 'orders', action: 'create', id: 9, obj: order, scope: 'user:42' });
   */
  publishChange(change: Change): Promise<void>;
  /**
   * Deploys a version, atomically (one Lua script on Redis): stamps it with the next deploy
   * number, keeps the deploy before it for {@link Bridge.rollbackVersion}, SETs the version key
   * (the plain name, as before) and its record, and PUBLISHes both. Clients are sent
   * `{ version, build, deploy, required?, minBuild? }` (plain socket.io-clients: the name).
   * Give `build` the value the pages of this build carry as `currentVersion.build`; without it,
   * the version's earlier build, else one past the newest numbered build kept (at least its deploy number). Resolves with the deploy; rejects
   * (TypeError) for a bad version or option, with Redis's error while Redis is down.
   * @example
   * await bridge.publishVersion(process.env.GIT_SHA, { build: Number(process.env.BUILD_NUMBER) });
   */
  publishVersion(version: string, options?: DeployOptions): Promise<Deploy>;
  /**
   * Rolls back to the deploy before the current one, under a new deploy number: pages that run
   * it are told nothing (their offer is withdrawn), pages on the rolled-back build get no
   * downgrade prompt, older pages are offered it. Rejects ("nothing to roll back to") when no
   * earlier deploy is kept.
   * @example
   * await bridge.rollbackVersion();
   */
  rollbackVersion(): Promise<Deploy>;
  /**
   * The version clients are sent now and the deploys a rollback can return to, newest first.
   * @example
   * const { current, history } = await bridge.showVersion();
   */
  showVersion(): Promise<VersionHistory>;
  /**
   * Tells local clients to refetch (the event a Redis recovery sends), e.g. after a backend
   * restored a backup.
   * @example
   * bridge.resync('restore');
   */
  resync(reason: string): void;
  /** What `/healthz` answers. */
  health(): HealthReport;
  /**
   * Graceful stop: every client gets a server-side disconnect ("io server disconnect"), the
   * socket.io server and the http server close (a borrowed one too, as socket.io does), the bus
   * disconnects. Resolves when all that is done. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts a bridge: an http + socket.io server fed by Redis pub/sub (`redisUrl`) or by an
 * embedded in-memory bus. Resolves once it listens (when it owns its server) and the bus is
 * started. Throws a TypeError for bad options; run-time trouble is logged, never thrown.
 * @example
 * const bridge = await createBridge({ port: 0, redisUrl: 'redis://127.0.0.1:6379' });
 * console.log(bridge.port);
 */
export async function createBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const opts = resolveOptions(options);
  const { logger } = opts;
  const owned = opts.server === undefined;
  const httpServer = opts.server ?? createOwnedServer();
  const redisBus = opts.redisUrl ? await createRedisBus({ url: opts.redisUrl, logger }) : undefined;
  const bus: Bus = redisBus ?? createMemoryBus(logger);
  let closing: Promise<void> | undefined;
  let accepting = true;
  const io = createIoServer(httpServer, opts, () => accepting);
  if (redisBus) {
    // The adapter lets emitters (@socket.io/redis-emitter) and other processes' io.emit reach
    // this process's sockets. The bridge's own deliveries use io.local so it never doubles them.
    io.adapter(redisBus.createAdapter(opts.adapterKey));
  }

  if (opts.authUrl && opts.origins === '*') {
    logger.warn('authUrl is set and origins is "*": a page on any site can open a connection that carries its visitors\' cookies; set origins to your app\'s origins');
  }
  const limits = { maxLength: opts.logMaxLength, maxAgeMs: opts.logMaxAgeMs };
  const redisLog = opts.logMaxLength !== 0 && redisBus ? await redisBus.createLog({ ...limits, channel: opts.changeChannel, keyPrefix: opts.logKeyPrefix, maxChangeSize: opts.maxChangeSize }) : null;
  const log: ChangeLog | null = opts.logMaxLength === 0 ? null : redisBus ? redisLog : createMemoryLog({ ...limits, bus, channel: opts.changeChannel });
  const protocol = attachProtocol(io, {
    log,
    changeEvent: opts.changeEvent,
    authorizer: createAuthorizer(opts),
    isPrivate: createPrivacyRule(opts.privateResources),
    maxSubscriptions: opts.maxSubscriptions,
    maxNameLength: opts.maxNameLength,
    subscribeRate: opts.subscribeRate,
    // authUrl requests time out after authTimeoutMs each; a list waits for a few rounds at most.
    handshakeTimeoutMs: opts.authTimeoutMs * 2,
    refetchSlot: opts.refetchRate > 0 ? createRefetchSlots(opts.refetchRate, opts.maxRefetchDelayMs).take : () => null,
    logger,
  });

  const keys = versionKeys(opts.versionKey, opts.versionChannel);
  const versions = redisBus ? redisBus.createVersions(keys) : createMemoryVersions(bus, keys);
  let lastVersion: VersionMessage | null = null;
  /** The name of the last record heard on the record channel: its name message that follows is not news. */
  let lastRecord: string | null = null;
  let resyncAgain: ReturnType<typeof setTimeout> | undefined;
  const teardown: Array<() => void> = [() => clearTimeout(resyncAgain)];
  // A change an emitter library sent goes to sockets past the bridge and the log: replays across
  // it are refused, as for a plain PUBLISH. Marked in the task that delivered it here.
  if (redisBus && log) {
    teardown.push(
      redisBus.watchBroadcasts(opts.adapterKey, ([event, payload]) => {
        if (event !== opts.changeEvent) return;
        const parsed = typeof payload === 'string' ? parseChangeMessage(payload) : checkChange(payload);
        if (parsed.ok && typeof parsed.value.offset !== 'number') log.unlogged(parsed.value.resource, parsed.value.scope ?? undefined);
      }),
    );
  }


  const health = (): HealthReport => {
    const redis = bus.status();
    return { ok: accepting && redis !== 'down', redis, clients: io.engine.clientsCount, ...(accepting ? {} : { draining: true as const }) };
  };
  if (opts.healthPath !== false) teardown.push(interceptRequests(httpServer, createHealthHandler(opts.healthPath, health)));
  // While closing, a new session gets 503 (a balancer retries it on another process); the
  // allowRequest check in server.ts (403) stays as the last word.
  const sessions = new Set<string>();
  io.engine.on('connection', (session: { id: string; once(event: 'close', listener: () => void): unknown }) => {
    sessions.add(session.id);
    session.once('close', () => sessions.delete(session.id));
  });
  teardown.push(refuseNewSessions(httpServer, opts.path, () => !accepting, (sid) => sessions.has(sid)));

  /**
   * Sends a version: the ordered form to live-updates clients (older ones read its `version`),
   * the name alone to plain socket.io-clients (LEGACY_ROOM), as the bridge always did.
   */
  const emitVersion = (version: VersionMessage, to: Socket | 'everyone'): void => {
    lastVersion = version;
    const ordered = isOrdered(version);
    if (to !== 'everyone') to.emit(opts.versionEvent, ordered && !to.rooms.has(LEGACY_ROOM) ? version : version.version);
    else if (!ordered) io.local.emit(opts.versionEvent, version.version);
    else {
      io.local.except(LEGACY_ROOM).emit(opts.versionEvent, version);
      io.local.to(LEGACY_ROOM).emit(opts.versionEvent, version.version);
    }
  };
  const sameVersion = (a: VersionMessage | null, b: VersionMessage | null): boolean => JSON.stringify(a) === JSON.stringify(b);
  /** More than the name: a build, a deploy number or a severity. */
  const isOrdered = (version: VersionMessage): boolean => Object.keys(version).length > 1;
  const onVersionMessage = (channel: string, raw: string): void => {
    const parsed = parseVersionAnnouncement(raw);
    if (!parsed.ok) {
      logger.warn(`dropped bad version on "${channel}" (${parsed.error}): ${truncate(raw)}`);
      return;
    }
    if (channel === keys.deployChannel) lastRecord = parsed.value.version;
    else if (!isOrdered(parsed.value) && parsed.value.version === lastRecord) return;
    else lastRecord = null;
    emitVersion(parsed.value, 'everyone');
  };

  // A plain PUBLISH sent while no bridge listened reached nobody: the log counts such a spell
  // (redis-log.ts). Before subscribing, so the first subscription is heard.
  if (redisBus && redisLog) teardown.push(redisBus.onSubscribed(opts.changeChannel, () => redisLog.listening()));
  teardown.push(
    bus.subscribe(opts.changeChannel, (raw) => {
      if (raw.length > opts.maxChangeSize) {
        logger.warn(`dropped a ${raw.length}-character message on "${opts.changeChannel}" (maxChangeSize ${opts.maxChangeSize}): ${truncate(raw)}`);
        return;
      }
      const parsed = parseChangeMessage(raw);
      if (!parsed.ok) {
        logger.warn(`dropped bad message on "${opts.changeChannel}" (${parsed.error}): ${truncate(raw)}`);
        return;
      }
      protocol.deliver(parsed.value);
    }),
    bus.subscribe(keys.deployChannel, (raw) => onVersionMessage(keys.deployChannel, raw)),
    bus.subscribe(opts.versionChannel, (raw) => onVersionMessage(opts.versionChannel, raw)),
    bus.onRecover(() => {
      const payload: ResyncPayload = { reason: 'redis-reconnect' };
      logger.info(`resync sent to ${io.engine.clientsCount} local client(s): ${payload.reason}`);
      io.local.emit(opts.resyncEvent, payload);
      // The app's own Redis connection may come back after ours: a change it commits meanwhile
      // has its PUBLISH fail and reaches nobody live. Once those connections had time to return,
      // clients refetch once more (the soak test found pages missing exactly such changes).
      clearTimeout(resyncAgain);
      if (opts.resyncAgainMs > 0) {
        resyncAgain = setTimeout(() => {
          logger.info(`resync sent again to ${io.engine.clientsCount} local client(s)`);
          io.local.emit(opts.resyncEvent, { reason: 'redis-reconnect-settled' } satisfies ResyncPayload);
        }, opts.resyncAgainMs);
        resyncAgain.unref?.();
      }
      // A deploy during the outage was published into the void: compare with the key.
      versions
        .read()
        .then((version) => {
          if (version && !sameVersion(version, lastVersion)) emitVersion(version, 'everyone');
        })
        .catch((error: unknown) => logger.warn(`could not read "${opts.versionKey}": ${describeError(error)}`));
    }),
  );

  io.on('connection', (socket) => {
    // While Redis is down a GET fails at once: fall back to the last version seen.
    const read = bus.status() === 'down' ? Promise.resolve(lastVersion) : versions.read();
    read
      .then((version) => {
        if (version && socket.connected) emitVersion(version, socket);
      })
      .catch((error: unknown) => {
        logger.warn(`could not read "${opts.versionKey}": ${describeError(error)}`);
        if (lastVersion && socket.connected) emitVersion(lastVersion, socket);
      });
  });

  if (owned) {
    try {
      await listen(httpServer, opts.port, opts.host);
    } catch (error) {
      // e.g. EADDRINUSE: a start-up failure the caller must see; leave nothing running behind.
      for (const fn of teardown.splice(0)) fn();
      await io.close();
      await bus.close();
      throw error;
    }
  }

  /**
   * Tells this process's clients to leave in even batches over `ms`, every DRAIN_STEP_MS, while
   * new connections are refused (`accepting` is false) and changes still reach those not yet told.
   */
  const drain = async (ms: number): Promise<void> => {
    const sockets = [...io.of('/').sockets.values()];
    const steps = Math.max(1, Math.floor(ms / DRAIN_STEP_MS));
    for (let step = 0; step < steps && sockets.length > 0; step++) {
      const batch = sockets.splice(0, Math.ceil(sockets.length / (steps - step)));
      for (const socket of batch) socket.disconnect(true);
      if (step < steps - 1) await new Promise((resolve) => setTimeout(resolve, DRAIN_STEP_MS));
    }
  };

  const closeAll = async (): Promise<void> => {
    accepting = false;
    if (opts.drainMs > 0) {
      logger.info(`draining ${io.of('/').sockets.size} client(s) over ${opts.drainMs} ms`);
      await drain(opts.drainMs);
    }
    for (const fn of teardown.splice(0)) fn();
    // disconnect(true) sends a DISCONNECT packet, so clients see "io server disconnect" (not a
    // transport error) and know this server left on purpose.
    io.local.disconnectSockets(true);
    const ioClosed = io.close();
    // Keep-alive connections (browsers, health checks) would hold httpServer.close() open:
    // close the idle ones now, and the rest after a grace period for in-flight requests.
    httpServer.closeIdleConnections();
    const force = setTimeout(() => httpServer.closeAllConnections(), CLOSE_GRACE_MS);
    await ioClosed;
    clearTimeout(force);
    await bus.close();
    logger.info('bridge closed');
  };

  return {
    io,
    httpServer,
    get port() {
      return boundPort(httpServer);
    },
    busKind: bus.kind,
    async publishChange(change) {
      const checked = checkChange(change);
      if (!checked.ok) throw new TypeError(`invalid change: ${checked.error}`);
      const message = JSON.stringify(checked.value);
      const room = log ? STAMP_ROOM : 0; // for the offset and epoch the log adds
      if (message.length > opts.maxChangeSize - room) throw new TypeError(`invalid change: ${message.length} characters of JSON, more than maxChangeSize (${opts.maxChangeSize}) less ${room} for the log's offset`);
      if (log) await log.publish(message, checked.value.resource, checked.value.scope ?? undefined);
      else await bus.publish(opts.changeChannel, message);
    },
    publishVersion: (version, options) => versions.set(version, options),
    rollbackVersion: () => versions.rollback(),
    showVersion: () => versions.show(),
    resync(reason) {
      const payload: ResyncPayload = { reason };
      io.local.emit(opts.resyncEvent, payload);
    },
    health,
    close() {
      closing ??= closeAll().catch((error: unknown) => logger.error(`close failed: ${describeError(error)}`));
      return closing;
    },
  };
}

/** Time between two batches of a drain, in ms. */
const DRAIN_STEP_MS = 100;

/** How long close() lets in-flight HTTP requests finish before it drops their connections. */
const CLOSE_GRACE_MS = 1000;

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
