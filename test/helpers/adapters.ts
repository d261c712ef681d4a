// Fixtures of the adapter tests: the bridge tests' bridge (in this process, embedded bus) and
// client, plus a record of what each client asked the bridge for.
import type { BridgeOptions } from '../../src/bridge/index';
import { startBridge, type Cleanups } from '../bridge/helpers';

export { createCleanups, startClient, until } from '../bridge/helpers';
export { countSubscriptions } from './count-subscriptions';

/** What the bridge heard from its clients about subscriptions. */
export interface SubscriptionLog {
  /** Resources in each handshake, as `resource` or `resource#scope`. */
  handshakes: string[][];
  /** Each `lu:subscribe` (one entry per subscription) and `lu:unsubscribe`, in order. */
  events: string[];
}

const name = (sub: { resource: string; scope?: string | null }): string => (sub.scope == null ? sub.resource : `${sub.resource}#${sub.scope}`);

/** A bridge on a free port (closed by `cleanups`) that records the subscriptions its clients ask for. */
export async function startRecordingBridge(cleanups: Cleanups, options: BridgeOptions = {}) {
  const bridge = await startBridge(cleanups, options);
  const log: SubscriptionLog = { handshakes: [], events: [] };
  bridge.io.on('connection', (socket) => {
    const lu = (socket.handshake.auth as { lu?: { subs?: Array<{ resource: string; scope?: string }> } }).lu;
    log.handshakes.push((lu?.subs ?? []).map(name));
    socket.onAny((event: string, payload: { resource: string; scope?: string; subs?: Array<{ resource: string; scope?: string }> }) => {
      if (event !== 'lu:subscribe' && event !== 'lu:unsubscribe') return;
      const verb = event === 'lu:subscribe' ? 'subscribe' : 'unsubscribe';
      for (const sub of payload.subs ?? [payload]) log.events.push(`${verb} ${name(sub)}`);
    });
  });
  return { bridge, log };
}

/** Lets pending microtasks and a macrotask run (socket writes, deferred releases). */
export const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
