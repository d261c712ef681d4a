import type { Clock } from '../../src/environment';

/** A manual clock: time moves only when a test says so; `jump` moves it without firing timers (a sleep). */
export function createFakeClock(start = 1_000_000) {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const clock: Clock & { advance(ms: number): void; jump(ms: number): void; pending(): number } = {
    now: () => now,
    setTimeout(callback, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    /** Moves time forward, firing due timers in order. */
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: [number, { at: number; callback: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].callback();
      }
      now = end;
    },
    /** Wall clock jumps (the machine slept); timers fire on the next advance. */
    jump(ms) {
      now += ms;
    },
    pending: () => timers.size,
  };
  return clock;
}

/**
 * Real timers, but a wall clock the test can move forward at once (`skip`): e.g. to make a fresh
 * connection look older than the reconnect policy's kick window without waiting for it.
 */
export function createShiftedClock() {
  let offset = 0;
  const clock: Clock & { skip(ms: number): void } = {
    now: () => Date.now() + offset,
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    skip(ms) {
      offset += ms;
    },
  };
  return clock;
}
