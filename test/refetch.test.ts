import { describe, expect, it } from 'vitest';
import { createRefetcher, type RefetchContext } from '../src/refetch';
import { createFakeClock } from './helpers/fake-clock';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('refetcher', () => {
  it('runs every registered refetch once per gap, at once for local gaps', () => {
    const clock = createFakeClock();
    const log: string[] = [];
    const refetcher = createRefetcher({ clock, spreadMs: 1000, onError: () => {} });
    refetcher.add('books', ({ resource, reason }) => void log.push(`${resource}:${reason}`));
    refetcher.add('authors', ({ resource, reason }) => void log.push(`${resource}:${reason}`));
    refetcher.runAll('dead-link');
    expect(log).toEqual(['books:dead-link', 'authors:dead-link']);
  });

  it('spreads shared gaps over [0, spreadMs)', () => {
    const clock = createFakeClock();
    const log: string[] = [];
    const randoms = [0.1, 0.9];
    const refetcher = createRefetcher({ clock, spreadMs: 1000, onError: () => {}, random: () => randoms.shift() ?? 0 });
    refetcher.add('a', () => void log.push(`a@${clock.now()}`));
    refetcher.add('b', () => void log.push(`b@${clock.now()}`));
    const start = clock.now();
    refetcher.runAll('server-disconnect');
    refetcher.runAll('transport-close'); // same gap reported twice: still one run each
    expect(log).toEqual([]);
    clock.advance(1000);
    expect(log).toEqual([`a@${start + 100}`, `b@${start + 900}`]);
  });

  it('coalesces runs requested while one is in flight into one follow-up', async () => {
    const clock = createFakeClock();
    const runs: RefetchContext['reason'][] = [];
    const pending: Array<ReturnType<typeof deferred>> = [];
    const refetcher = createRefetcher({ clock, spreadMs: 0, onError: () => {} });
    refetcher.add('books', ({ reason }) => {
      runs.push(reason);
      const d = deferred();
      pending.push(d);
      return d.promise;
    });
    refetcher.runAll('offline');
    refetcher.runAll('dead-link');
    refetcher.runAll('server-resync');
    expect(runs).toEqual(['offline']);
    pending[0]!.resolve();
    await flush();
    expect(runs).toEqual(['offline', 'server-resync']);
    pending[1]!.resolve();
    await flush();
    expect(runs).toEqual(['offline', 'server-resync']);
  });

  it('reports rejections and throws as errors, never unhandled', async () => {
    const clock = createFakeClock();
    const errors: string[] = [];
    const refetcher = createRefetcher({ clock, spreadMs: 0, onError: (resource, cause) => errors.push(`${resource}:${(cause as Error).message}`) });
    refetcher.add('a', () => Promise.reject(new Error('http 500')));
    refetcher.add('b', () => {
      throw new Error('sync');
    });
    refetcher.runAll('offline');
    await flush();
    expect(errors.sort()).toEqual(['a:http 500', 'b:sync']);
    // A failed refetch runs again after the next gap.
    refetcher.runAll('offline');
    await flush();
    expect(errors).toHaveLength(4);
  });

  it('aborts on unregister and stays silent about the abort', async () => {
    const clock = createFakeClock();
    const errors: unknown[] = [];
    let signal: AbortSignal | undefined;
    const refetcher = createRefetcher({ clock, spreadMs: 0, onError: (_r, cause) => errors.push(cause) });
    const off = refetcher.add('books', (ctx) => {
      signal = ctx.signal;
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    });
    refetcher.runAll('offline');
    off();
    off();
    await flush();
    expect(signal?.aborted).toBe(true);
    expect(errors).toEqual([]);
  });

  it('cancels a spread run when cleared', () => {
    const clock = createFakeClock();
    const log: string[] = [];
    const refetcher = createRefetcher({ clock, spreadMs: 500, onError: () => {}, random: () => 0.5 });
    refetcher.add('books', () => void log.push('run'));
    refetcher.runAll('server-disconnect');
    refetcher.clear();
    clock.advance(1000);
    expect(log).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  it('moves runs still waiting out their spread to the slot the bridge gave', () => {
    const clock = createFakeClock();
    const log: string[] = [];
    const refetcher = createRefetcher({ clock, spreadMs: 5000, onError: () => {}, random: () => 0.9 });
    refetcher.add('books', ({ reason }) => void log.push(reason));
    refetcher.runAll('server-disconnect');
    refetcher.reschedule(8000);
    clock.advance(7999);
    expect(log).toEqual([]); // not at 4500 ms any more
    clock.advance(1);
    expect(log).toEqual(['server-disconnect']);
  });

  it('leaves runs that already happened alone when a slot arrives', () => {
    const clock = createFakeClock();
    const log: string[] = [];
    const refetcher = createRefetcher({ clock, spreadMs: 5000, onError: () => {} });
    refetcher.add('books', ({ reason }) => void log.push(reason));
    refetcher.runAll('dead-link');
    refetcher.reschedule(3000);
    clock.advance(10_000);
    expect(log).toEqual(['dead-link']);
  });
});

