// Fixtures of the adapter tests: a real bridge in this process (embedded bus) that records what
// each client asked for, and a live-updates client with the injected clock and signals.
import { createBridge, createSilentLogger, type Bridge, type BridgeOptions } from '../../src/bridge/index';
import { createLiveUpdates, type LiveUpdates, type LiveUpdatesOptions } from '../../src/index';
import { KICK_WINDOW_MS } from '../../src/reconnect-policy';
import { createShiftedClock } from './fake-clock';
import { createManualSignals } from './manual-signals';
import { until } from './server';

export { until };

/** What the bridge heard from its clients about subscriptions. */
export interface SubscriptionLog {
  /** Resources in each handshake, as `resource` or `resource#scope`. */
  handshakes: string[][];
  /** Each `lu:subscribe` (one entry per subscription) and `lu:unsubscribe`, in order. */
  events: string[];
}

const name = (sub: { resource: string; scope?: string | null }): string => (sub.scope == null ? sub.resource : `${sub.resource}#${sub.scope}`);

/** A bridge on a free port, recording subscriptions; closed by the returned `close`. */
export async function startRecordingBridge(options: BridgeOptions = {}): Promise<{ bridge: Bridge; url: string; log: SubscriptionLog }> {
  const bridge = await createBridge({ port: 0, logger: createSilentLogger(), ...options });
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
  return { bridge, url: `http://127.0.0.1:${bridge.port}`, log };
}

/** A client of `url` with a shifted clock and manual signals; `established()` makes a server disconnect a gap. */
export function startLive(url: string, options: LiveUpdatesOptions = {}) {
  const clock = createShiftedClock();
  const signals = createManualSignals();
  const live = createLiveUpdates({
    url,
    refetchSpreadMs: 0,
    socketOptions: { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 100 },
    environment: { clock, signals: signals.source },
    ...options,
  });
  const errors: string[] = [];
  live.onError((error) => errors.push(error.code));
  return {
    live,
    signals,
    errors,
    connected: () => until(() => live.state === 'connected'),
    established: () => clock.skip(KICK_WINDOW_MS),
  };
}

/** Counts `live.subscribe` calls (library subscriptions made) and how many are still open. */
export function countSubscriptions(live: LiveUpdates) {
  const subscribe = live.subscribe.bind(live);
  const counts = { made: 0, open: 0 };
  live.subscribe = (...args) => {
    const unsubscribe = subscribe(...args);
    counts.made++;
    counts.open++;
    let open = true;
    return Object.assign(
      () => {
        if (open) counts.open--;
        open = false;
        unsubscribe();
      },
      { ready: unsubscribe.ready },
    );
  };
  return counts;
}

/** Lets pending microtasks and a macrotask run (socket writes, deferred releases). */
export const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
