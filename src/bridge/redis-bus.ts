// The Redis bus: a command connection (GET/SET/PUBLISH) and a dedicated subscriber connection,
// made with node-redis. node-redis reconnects by itself and re-sends its SUBSCRIBEs before it
// reports 'ready' again (subscriptions are only issued on a ready connection: see
// redis-guards.ts); what it cannot do is tell anyone that messages were lost meanwhile, which is
// what onRecover is for.
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-adapter';
import msgpack from 'notepack.io';
import type { Bus, BusListener } from './bus.js';
import type { BridgeLogger } from './logger.js';
import { describeError } from './logger.js';
import { createReadyGate, guardClient } from './redis-guards.js';
import { createRedisLog } from './redis-log.js';
import type { RedisChangeLog, RedisLogOptions } from './redis-log.js';
import { createRedisVersions } from './redis-versions.js';
import type { VersionKeys, VersionStore } from './versions.js';

type RedisClient = ReturnType<typeof createClient>;

/**
 * Options of {@link createRedisBus}.
 */
export interface RedisBusOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** Where outages and failures are written. */
  logger: BridgeLogger;
  /**
   * How long `createRedisBus` waits for Redis at start before going on without it (it keeps
   * trying in the background; clients get `lu:resync` when it comes).
   * @default 5000
   */
  startTimeoutMs?: number;
  /**
   * How long `close()` waits for pending commands before dropping the connections.
   * @default 2000
   */
  closeTimeoutMs?: number;
}

/** The Redis bus, plus what the socket.io Redis adapter needs. */
export interface RedisBus extends Bus {
  readonly kind: 'redis';
  /**
   * Builds a `@socket.io/redis-adapter` on this bus's two connections (so a process holds two
   * Redis connections in all), for `io.adapter(...)`.
   * @param key - the adapter's channel prefix; must match the emitters' `key`
   */
  createAdapter(key: string): ReturnType<typeof createAdapter>;
  /**
   * Hears the `data` (`[event, ...args]`) of every broadcast sent through the adapter's channels
   * (other processes, emitter libraries), whether or not a socket of this process is in its room.
   * Returns the unsubscribe.
   */
  watchBroadcasts(key: string, listener: (data: unknown[]) => void): () => void;
  /**
   * The change log on this bus's command connection (redis-log.ts): its Redis functions are
   * loaded now and again whenever the connection comes back. Resolves once the first load was
   * tried; `null` when Redis refused it (before Redis 7): changes then go without offsets.
   */
  createLog(options: RedisLogOptions): Promise<RedisChangeLog | null>;
  /**
   * Calls `listener` each time this bus's subscription to `channel` is in place: once SUBSCRIBE
   * succeeded, and again after each reconnection of the subscriber connection (messages published
   * meanwhile reached nobody here). Returns the unsubscribe.
   */
  onSubscribed(channel: string, listener: () => void): () => void;
  /** The deploy store (versions.ts) on this bus's command connection; fails fast while Redis is down. */
  createVersions(keys: VersionKeys): VersionStore;
}

/**
 * Connects to Redis and resolves once both connections are ready, or after `startTimeoutMs`
 * with Redis still down (it then keeps reconnecting in the background). Never rejects for an
 * unreachable server; rejects only for an unusable URL.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<RedisBus> {
  const { url, logger, startTimeoutMs = 5000, closeTimeoutMs = 2000 } = options;
  const command: RedisClient = createClient({ url });
  const subscriber: RedisClient = command.duplicate();
  const recoverListeners = new Set<() => void>();
  const subscribedListeners = new Map<string, Set<() => void>>();
  const subscribedChannels = new Set<string>();
  const announceSubscribed = (channel: string): void => {
    for (const listener of [...(subscribedListeners.get(channel) ?? [])]) {
      try {
        listener();
      } catch (error) {
        logger.error(`subscribed listener threw: ${describeError(error)}`);
      }
    }
  };
  const commandBack = new Set<() => void>();
  // Created before connect() so its 'ready' listener sees the first connection.
  const subscriberGate = createReadyGate(subscriber);
  let closed = false;

  const watch = (client: RedisClient, role: string, onBack: () => void): Promise<void> => {
    let down = false;
    client.on('error', (error: unknown) => {
      if (closed) return;
      // node-redis emits an error on every failed retry: report the outage once.
      if (!down) logger.warn(`redis ${role} connection lost: ${describeError(error)}; reconnecting`);
      down = true;
    });
    client.on('end', () => {
      if (!closed) down = true;
    });
    client.on('ready', () => {
      if (!down) return;
      down = false;
      logger.info(`redis ${role} connection is back`);
      onBack();
    });
    return new Promise<void>((resolve) => {
      client.once('ready', () => resolve());
      client.once('error', () => resolve());
    });
  };

  const started = Promise.all([
    watch(command, 'command', () => commandBack.forEach((listener) => listener())),
    watch(subscriber, 'subscriber', () => {
      // Recover only once the subscriptions made during the outage are live too.
      void subscriberGate.settled().then(() => {
        subscribedChannels.forEach(announceSubscribed);
        for (const listener of [...recoverListeners]) {
          try {
            listener();
          } catch (error) {
            logger.error(`recover listener threw: ${describeError(error)}`);
          }
        }
      });
    }),
  ]);

  // connect() keeps retrying until it succeeds, so it is not awaited past `started`.
  for (const client of [command, subscriber]) {
    client.connect().catch((error: unknown) => {
      if (!closed) logger.error(`redis connection gave up: ${describeError(error)}`);
    });
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([started, new Promise<void>((resolve) => (timer = setTimeout(resolve, startTimeoutMs)))]);
  clearTimeout(timer);
  const isUp = (): boolean => command.isReady && subscriber.isReady;
  const ready = (): RedisClient => {
    if (closed) throw new Error('redis bus is closed');
    if (!command.isReady) throw new Error(`redis is down (${redactUrl(url)})`);
    return command;
  };
  logger.info(isUp() ? `redis connected (${redactUrl(url)})` : `redis not reachable yet (${redactUrl(url)}); retrying`);

  const closeClient = async (client: RedisClient): Promise<void> => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const graceful = client.close().catch(() => undefined);
    await Promise.race([graceful, new Promise<void>((resolve) => (t = setTimeout(resolve, closeTimeoutMs)))]);
    clearTimeout(t);
    if (client.isOpen) client.destroy();
  };

  return {
    kind: 'redis',
    status: () => (isUp() ? 'up' : 'down'),
    subscribe(channel: string, listener: BusListener) {
      const safe = (message: string): void => {
        try {
          listener(message);
        } catch (error) {
          logger.error(`listener on channel "${channel}" threw: ${describeError(error)}`);
        }
      };
      subscriberGate
        .run(() => subscriber.subscribe(channel, safe))
        .then(() => {
          subscribedChannels.add(channel);
          announceSubscribed(channel);
        })
        .catch((error: unknown) => {
          if (!closed) logger.error(`SUBSCRIBE ${channel} failed: ${describeError(error)}`);
        });
      let active = true;
      return () => {
        if (!active || closed) return;
        active = false;
        subscribedChannels.delete(channel);
        subscriberGate
          .run(() => subscriber.unsubscribe(channel, safe))
          .catch((error: unknown) => {
            if (!closed) logger.warn(`UNSUBSCRIBE ${channel} failed: ${describeError(error)}`);
          });
      };
    },
    // Fail fast while Redis is down instead of waiting in node-redis's offline queue: the
    // caller (an API request) learns at once that its change was not published.
    async publish(channel, message) {
      await ready().publish(channel, message);
    },
    async get(key) {
      return ready().get(key);
    },
    async set(key, value) {
      await ready().set(key, value);
    },
    onSubscribed(channel, listener) {
      const set = subscribedListeners.get(channel) ?? new Set();
      subscribedListeners.set(channel, set.add(listener));
      return () => {
        set.delete(listener);
      };
    },
    onRecover(listener) {
      recoverListeners.add(listener);
      return () => {
        recoverListeners.delete(listener);
      };
    },
    createAdapter(key) {
      return createAdapter(guardClient(command, logger), guardClient(subscriber, logger, subscriberGate), { key });
    },
    watchBroadcasts(key, listener) {
      // The adapter's channel pattern for the main namespace, on the adapter's own subscriber
      // connection: this listener runs right after the adapter delivered the same message, in
      // the same task. Messages are the adapter's encoding (notepack.io, its dependency).
      const onMessage = (message: Buffer): void => {
        try {
          const value: unknown = msgpack.decode(message);
          const packet: unknown = Array.isArray(value) ? value[1] : undefined;
          const data = packet && typeof packet === 'object' ? (packet as { data?: unknown }).data : undefined;
          if (Array.isArray(data)) listener(data);
        } catch (error) {
          logger.warn(`could not read a broadcast on "${key}#/#": ${describeError(error)}`);
        }
      };
      const pattern = `${key}#/#*`;
      subscriberGate.run(() => subscriber.pSubscribe(pattern, onMessage, true)).catch((error: unknown) => {
        if (!closed) logger.error(`PSUBSCRIBE ${pattern} failed: ${describeError(error)}`);
      });
      return () => {
        if (!closed) subscriberGate.run(() => subscriber.pUnsubscribe(pattern, onMessage, true)).catch(() => undefined);
      };
    },
    async createLog(options) {
      // Fail fast while Redis is down, as publish does.
      const log = createRedisLog(
        {
          fCall: (name, args) => ready().fCall(name, args),
          functionLoad: (code, args) => ready().functionLoad(code, args),
        },
        logger,
        options,
      );
      commandBack.add(() => void log.reload());
      // Redis may be down at start: the library is loaded when it comes.
      return !isUp() || (await log.reload()) ? log : null;
    },
    createVersions(keys) {
      return createRedisVersions(
        {
          eval: (script, args) => ready().eval(script, args),
          get: (key) => ready().get(key),
          lRange: (key, start, stop) => ready().lRange(key, start, stop),
        },
        keys,
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      recoverListeners.clear();
      commandBack.clear();
      subscriberGate.close();
      await Promise.all([closeClient(subscriber), closeClient(command)]);
    },
  };
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
