// Is the link still carrying bytes? After a sleep, a connection often neither closes nor resets:
// it just goes silent, and socket.io notices only after pingInterval + pingTimeout (45 s by
// default). A probe asks for a round trip every plain socket.io v4 server answers — a CONNECT to
// a namespace no server defines, answered by CONNECT_ERROR over the same link — and declares the
// link dead when nothing at all arrives for `timeoutMs`. Any packet received meanwhile proves
// the link is delivering and pushes the deadline back: after a busy sleep the answer queues
// behind the backlog the server sent, and a healthy link must not be torn down for that. A
// backlog buffered before the link died drains within milliseconds and then falls silent, so it
// cannot keep a dead link alive for more than `timeoutMs` after it ends.
import type { Manager } from 'socket.io-client';
import type { Clock, TimerHandle } from './environment';

/** A namespace no server defines: asking for it costs one small round trip and no server state. */
export const PROBE_NAMESPACE = '/live-updates-probe';

/** The probe of one socket.io Manager. */
export interface Probe {
  /** Probes the current link unless a probe is already under way. */
  start(): void;
  /** Ends the probe under way, if any, without a verdict. */
  end(): void;
}

/** Creates the probe; `onDead` runs when the link stayed silent for `timeoutMs`. */
export function createProbe(manager: Manager, clock: Clock, timeoutMs: number, onDead: () => void): Probe {
  let current: { timer: TimerHandle; release: () => void } | null = null;

  const end = (): void => {
    if (!current) return;
    const { timer, release } = current;
    current = null;
    clock.clearTimeout(timer);
    release();
  };

  return {
    start() {
      const engine = manager.engine;
      if (current || !engine) return;
      // Manager.socket() caches one socket per namespace and, with autoConnect, sends CONNECT itself.
      const prober = manager.socket(PROBE_NAMESPACE);
      let lastHeard = clock.now();
      const heard = (): void => {
        lastHeard = clock.now();
      };
      const check = (): void => {
        if (!current) return;
        const quiet = clock.now() - lastHeard;
        if (quiet < timeoutMs) {
          current.timer = clock.setTimeout(check, timeoutMs - quiet);
          return;
        }
        end();
        onDead();
      };
      prober.on('connect', end);
      prober.on('connect_error', end);
      engine.on('packet', heard);
      current = {
        timer: clock.setTimeout(check, timeoutMs),
        release() {
          prober.off('connect', end);
          prober.off('connect_error', end);
          engine.off('packet', heard);
          // A dedicated namespace socket: closing it leaves the main socket and the link untouched.
          prober.disconnect();
        },
      };
      if (!prober.active) prober.connect();
    },
    end,
  };
}
