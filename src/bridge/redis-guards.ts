// Two guards around node-redis clients that the bridge needs to survive outages:
// - a ready gate: node-redis (5.12) breaks when a SUBSCRIBE is queued while the connection is
//   not ready: on connect it sends the queued command AND re-sends the subscription it already
//   recorded, the extra reply throws inside its decoder, and messages on that channel are lost.
//   So (un)subscribe calls wait for 'ready'; once subscribed, node-redis's own resubscribe
//   restores them after every reconnect.
// - a rejection guard: the socket.io Redis adapter fires commands without awaiting them; during
//   an outage those reject, and an unhandled rejection would end the whole process.
import type { EventEmitter } from 'node:events';
import type { BridgeLogger } from './logger.js';
import { describeError } from './logger.js';

/** The part of a node-redis client the guards use. */
export interface ReadyAware extends Pick<EventEmitter, 'on'> {
  readonly isReady: boolean;
}

/** Runs work now if the client is ready, else on its next 'ready'. */
export interface ReadyGate {
  /** Runs `work` once the client is ready; rejects if the gate is closed first. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Resolves when the work started by the latest 'ready' has settled. */
  settled(): Promise<void>;
  /** Rejects everything still waiting; later calls reject at once. */
  close(): void;
}

/** Creates the ready gate of one client. */
export function createReadyGate(client: ReadyAware): ReadyGate {
  const waiting: Array<{ start: () => Promise<void>; cancel: (error: Error) => void }> = [];
  let closed = false;
  let lastDrain: Promise<void> = Promise.resolve();
  client.on('ready', () => {
    const started = waiting.splice(0).map((entry) => entry.start());
    lastDrain = Promise.allSettled(started).then(() => undefined);
  });
  return {
    run(work) {
      if (closed) return Promise.reject(new Error('redis bus is closed'));
      if (client.isReady) return work();
      return new Promise((resolve, reject) => {
        waiting.push({ start: () => work().then(resolve, reject), cancel: reject });
      });
    },
    settled: () => lastDrain,
    close() {
      closed = true;
      for (const entry of waiting.splice(0)) entry.cancel(new Error('redis bus is closed'));
    },
  };
}

const subscribeMethods = new Set(['subscribe', 'unsubscribe', 'pSubscribe', 'pUnsubscribe', 'sSubscribe', 'sUnsubscribe']);

/**
 * Wraps a client for a third party (the socket.io adapter): every promise its methods return gets
 * a rejection handler that logs, and with a `gate`, (un)subscribe calls wait for 'ready'.
 * Methods run with the real client as `this`, since node-redis uses private fields.
 */
export function guardClient<T extends object>(client: T, logger: BridgeLogger, gate?: ReadyGate): T {
  const log = (error: unknown): void => logger.warn(`redis adapter command failed: ${describeError(error)}`);
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const call = (args: unknown[]): unknown => Reflect.apply(value, target, args);
      if (gate && typeof property === 'string' && subscribeMethods.has(property)) {
        return (...args: unknown[]): Promise<unknown> => {
          const result = gate.run(() => Promise.resolve(call(args)));
          result.catch(log);
          return result;
        };
      }
      return (...args: unknown[]): unknown => {
        const result = call(args);
        if (result instanceof Promise) result.catch(log);
        return result;
      };
    },
  });
}
