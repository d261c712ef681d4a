// @vitest-environment node
// Refetch slots: after a gap many clients share, the bridge tells each returning client when to
// refetch, 1/rate apart, so the app's API sees a bounded rate however many come back.
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createRefetchSlots } from '../../src/bridge/refetch-slots';
import { KICK_WINDOW_MS } from '../../src/reconnect-policy';
import { createLiveUpdates } from '../../src/index';
import { createFakeClock } from '../helpers/fake-clock';
import { createManualSignals } from '../helpers/manual-signals';
import { createCleanups, startBridge, until } from './helpers';

const cleanups = createCleanups();
afterEach(() => cleanups.run());

describe('refetch slots', () => {
  it('hands out slots 1/rate apart, at once when idle, never beyond the cap', () => {
    let now = 0;
    const dice = [0.5, 0.1];
    const slots = createRefetchSlots(10, 250, () => now, () => dice.shift() ?? 0);
    // Past capacity (3 slots fit in 250 ms at 10/s): the least booked 100 ms of the window, the
    // earliest of equals (0-100 ms, then 100-200 ms), not its edge.
    expect([slots.take(), slots.take(), slots.take(), slots.take(), slots.take()]).toEqual([0, 100, 200, 50, 110]);
    now = 10_000;
    expect(slots.take()).toBe(0);
  });

  it('has no cliff: 10,000 clients returning within 2 s on one process, 80/s over 30 s, peak 100 ms bucket ≤ 2× the mean', () => {
    let now = 0;
    const slots = createRefetchSlots(80, 30_000, () => now);
    const buckets = new Array<number>(330).fill(0);
    for (let i = 0; i < 10_000; i++) {
      now = Math.floor((i / 10_000) * 2000); // the reconnect wave itself takes 2 s
      buckets[Math.floor((now + slots.take()) / 100)]! += 1;
    }
    const busy = buckets.slice(0, 320);
    const mean = busy.reduce((a, b) => a + b, 0) / busy.length;
    // Before: 7,600 clients on the 30 s slot, one bucket of thousands.
    expect(Math.max(...buckets)).toBeLessThanOrEqual(2 * mean);
    expect(buckets.slice(320).every((count) => count === 0)).toBe(true);
  });

  it('stays flat when the crowd takes longer to come back than the slots last: 10,000 clients over 20 s, peak ≤ 1.5× the mean', () => {
    let now = 0;
    const slots = createRefetchSlots(80, 30_000, () => now);
    const buckets = new Array<number>(600).fill(0);
    for (let i = 0; i < 10_000; i++) {
      now = Math.floor((i / 10_000) * 20_000); // a busy machine: the bench's reconnect wave took ~20 s
      buckets[Math.floor((now + slots.take()) / 100)]! += 1;
    }
    const last = buckets.length - 1 - [...buckets].reverse().findIndex((count) => count > 0);
    const mean = 10_000 / (last + 1);
    // A uniformly random delay past capacity measured 2× (bunches where random windows overlap).
    expect(Math.max(...buckets)).toBeLessThanOrEqual(1.5 * mean);
    expect(last).toBeLessThan(500); // nobody later than the last arrival plus the 30 s window
  });

  it('tells clients returning from a shared gap their slot, and their refetches wait for it', async () => {
    // No change log: every client has something to refetch (with the log, see replay.test.ts).
    const bridge = await startBridge(cleanups, { refetchRate: 0.1, logMaxLength: 0 }); // one client every 10 s
    const clients = [0, 1, 2].map(() => {
      const socket: Socket = connect(bridge.url, { transports: ['websocket'], forceNew: true });
      cleanups.add(() => socket.disconnect());
      const clock = createFakeClock(Date.now());
      const live = createLiveUpdates({ socket, refetchSpreadMs: 60_000, environment: { clock, signals: createManualSignals().source } });
      cleanups.add(() => live.close());
      const slots: number[] = [];
      socket.on('lu:hello', (hello: { refetchDelayMs?: number }) => hello.refetchDelayMs !== undefined && slots.push(hello.refetchDelayMs));
      const refetches: string[] = [];
      live.subscribe('books', () => {}, { refetch: ({ reason }) => void refetches.push(reason) });
      return { socket, clock, live, slots, refetches };
    });
    await until(() => clients.every((c) => c.live.state === 'connected'));
    expect(clients.flatMap((c) => c.slots)).toEqual([]); // a first connection asks for no slot
    for (const c of clients) {
      c.clock.advance(0); // the load when it became live
      expect(c.refetches).toEqual(['subscribed']);
      c.clock.jump(KICK_WINDOW_MS); // connected long enough: the disconnect below is a gap, not a kick
    }

    bridge.io.disconnectSockets(); // "io server disconnect": every client shares this gap
    for (const [i, c] of clients.entries()) {
      await until(() => c.live.state === 'reconnecting');
      c.clock.advance(1000); // past the random share of reconnectionDelay: reconnect
      await until(() => c.slots.length === 1);
      expect(c.slots[0]).toBeGreaterThanOrEqual(i * 10_000 - 1000);
      expect(c.slots[0]).toBeLessThanOrEqual(i * 10_000);
    }
    const [, second] = clients;
    second!.clock.advance(second!.slots[0]! - 1);
    expect(second!.refetches).toEqual(['subscribed']);
    second!.clock.advance(2);
    expect(second!.refetches).toEqual(['subscribed', 'server-disconnect']);
  });
});
