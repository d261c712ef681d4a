// The message bus behind the bridge: pub/sub plus one key-value pair, behind one interface, so
// the bridge does not care whether it runs on Redis or on the embedded in-memory bus.
import type { BridgeLogger } from './logger.js';
import { describeError } from './logger.js';

/** What `/healthz` reports for the bus: Redis reachable, Redis unreachable, or no Redis at all. */
export type BusStatus = 'up' | 'down' | 'embedded';

/** Called with each message published on a channel. */
export type BusListener = (message: string) => void;

/**
 * Publish/subscribe and get/set, on Redis or in memory. Runtime failures are logged and
 * reported through rejected promises; nothing throws synchronously.
 */
export interface Bus {
  /** Which implementation this is. */
  readonly kind: 'embedded' | 'redis';
  /** Current health, for `/healthz`. */
  status(): BusStatus;
  /** Listens to a channel; returns the unsubscribe (idempotent). */
  subscribe(channel: string, listener: BusListener): () => void;
  /** Publishes a message to everyone subscribed to `channel` (in every process, on Redis). Rejects at once while Redis is down. */
  publish(channel: string, message: string): Promise<void>;
  /** Reads a key; `null` when missing. */
  get(key: string): Promise<string | null>;
  /** Writes a key. */
  set(key: string, value: string): Promise<void>;
  /**
   * Called each time the bus comes back after an outage, once subscriptions are live again:
   * whatever was published meanwhile is lost. Returns the unsubscribe. Never fires on the
   * embedded bus.
   */
  onRecover(listener: () => void): () => void;
  /** Stops the bus; resolves when connections are closed. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The embedded bus: an in-process stand-in for Redis, so a single bridge (and the demo) needs
 * nothing installed. Delivery is asynchronous, as it is on Redis.
 */
export function createMemoryBus(logger: BridgeLogger): Bus {
  const channels = new Map<string, Set<BusListener>>();
  const store = new Map<string, string>();
  let closed = false;

  const deliver = (channel: string, message: string): void => {
    for (const listener of [...(channels.get(channel) ?? [])]) {
      try {
        listener(message);
      } catch (error) {
        logger.error(`listener on channel "${channel}" threw: ${describeError(error)}`);
      }
    }
  };

  return {
    kind: 'embedded',
    status: () => 'embedded',
    subscribe(channel, listener) {
      let set = channels.get(channel);
      if (!set) channels.set(channel, (set = new Set()));
      set.add(listener);
      return () => {
        channels.get(channel)?.delete(listener);
      };
    },
    async publish(channel, message) {
      if (closed) throw new Error('bus is closed');
      queueMicrotask(() => deliver(channel, message));
    },
    async get(key) {
      return store.get(key) ?? null;
    },
    async set(key, value) {
      store.set(key, value);
    },
    onRecover: () => () => undefined,
    async close() {
      closed = true;
      channels.clear();
    },
  };
}
