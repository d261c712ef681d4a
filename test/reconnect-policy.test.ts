// What a lost link means and when to try again (src/reconnect-policy.ts), under a fake clock.
import { describe, expect, it } from 'vitest';
import { createReconnectPolicy, KICK_WINDOW_MS, SUSPECT_WINDOW_MS } from '../src/reconnect-policy';
import { createFakeClock } from './helpers/fake-clock';

const backoff = { base: () => 1000, max: () => 5000, factor: () => 0.5 };

describe('reconnect policy', () => {
  it('connections the server ends right after accepting them are kicks: exponential backoff, capped, jittered upwards', () => {
    const clock = createFakeClock();
    const policy = createReconnectPolicy(clock, backoff, () => 0);
    const delays: number[] = [];
    policy.connected();
    clock.advance(50);
    // One fresh connection ended may be a restart right after connecting: retried as usual.
    expect(policy.lost('server-disconnect')).toMatchObject({ retry: 'later', kicked: false });
    expect(policy.settled()).toBe(true); // and its reload is not held back (a restart is likelier)
    for (let i = 0; i < 6; i++) {
      policy.connected();
      clock.advance(50);
      const decision = policy.lost('server-disconnect');
      expect(decision).toMatchObject({ retry: 'later', kicked: true });
      if (decision.retry === 'later') delays.push(decision.delayMs);
      clock.advance(decision.retry === 'later' ? decision.delayMs : 0);
    }
    expect(delays).toEqual([2000, 4000, 5000, 5000, 5000, 5000]);
    expect(policy.settled()).toBe(false);
    policy.survived();
    expect(policy.settled()).toBe(true);
  });

  it('a server kicking every connection gets at most 8 connections in 30 s, whatever the dice say', () => {
    for (const dice of [0, 0.5, 0.999]) {
      const clock = createFakeClock();
      const policy = createReconnectPolicy(clock, backoff, () => dice);
      let connections = 0;
      const end = clock.now() + 30_000;
      while (clock.now() < end) {
        policy.connected();
        connections++;
        clock.advance(10); // accepted, then kicked
        const decision = policy.lost('transport-close');
        clock.advance(decision.retry === 'later' ? decision.delayMs : 1000);
      }
      expect(connections).toBeLessThanOrEqual(8);
    }
  });

  it('a connection that lived past the kick window is a gap: the server disconnect is retried within reconnectionDelay', () => {
    const clock = createFakeClock();
    const policy = createReconnectPolicy(clock, backoff, () => 0.5);
    policy.connected();
    clock.advance(KICK_WINDOW_MS);
    expect(policy.lost('server-disconnect')).toEqual({ retry: 'later', gap: 'server-disconnect', kicked: false, delayMs: 500 });
    policy.connected();
    clock.advance(KICK_WINDOW_MS);
    expect(policy.lost('transport-close')).toEqual({ retry: 'socket.io', gap: 'transport-close' });
  });

  it('kicks are counted in a row: a connection that outlived the kick window starts the count again', () => {
    const clock = createFakeClock();
    const policy = createReconnectPolicy(clock, backoff, () => 0);
    policy.connected();
    clock.advance(50); // a restart right after connecting
    expect(policy.lost('server-disconnect')).toMatchObject({ kicked: false });
    policy.connected();
    clock.advance(60 * 60 * 1000); // then an hour of service
    expect(policy.lost('server-disconnect')).toMatchObject({ kicked: false });
    expect(policy.kicks()).toBe(0);
    policy.connected();
    clock.advance(50); // another restart right after connecting: the first of a new row
    expect(policy.lost('server-disconnect')).toMatchObject({ kicked: false });
    expect(policy.settled()).toBe(true);
    policy.connected();
    clock.advance(50); // and the second in a row is a kick
    expect(policy.lost('server-disconnect')).toMatchObject({ kicked: true });
  });

  it('a loss just after a wake-like signal, or such a signal just after a loss, is this page own gap', () => {
    const clock = createFakeClock();
    const policy = createReconnectPolicy(clock, backoff);
    policy.connected();
    clock.advance(60_000);
    expect(policy.signalled('wake')).toBeNull(); // nothing lost yet
    clock.advance(100);
    expect(policy.lost('transport-close')).toEqual({ retry: 'now', gap: 'dead-link' });

    policy.connected();
    clock.advance(60_000);
    expect(policy.lost('transport-error')).toEqual({ retry: 'socket.io', gap: 'transport-error' });
    clock.advance(50); // the browser saw the reset before the timers noticed the sleep
    expect(policy.signalled('visible')).toBe('dead-link');
    expect(policy.signalled('online')).toBe('offline');
    clock.advance(SUSPECT_WINDOW_MS);
    expect(policy.signalled('resume')).toBeNull();

    // A server's deliberate disconnect stays a shared gap even right after a wake.
    policy.connected();
    clock.advance(60_000);
    policy.signalled('wake');
    expect(policy.lost('server-disconnect')).toMatchObject({ retry: 'later', gap: 'server-disconnect', kicked: false });
  });
});
