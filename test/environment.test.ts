import { describe, expect, it } from 'vitest';
import { createBrowserSignals, type Signal } from '../src/environment';
import { createFakeClock } from './helpers/fake-clock';

describe('browser signals', () => {
  it('maps DOM events to signals and detaches on cleanup', () => {
    const clock = createFakeClock();
    const log: Signal[] = [];
    const stop = createBrowserSignals(clock)((signal) => log.push(signal));
    window.dispatchEvent(new Event('offline'));
    window.dispatchEvent(new Event('online'));
    document.dispatchEvent(new Event('resume'));
    const restored = new Event('pageshow') as Event & { persisted?: boolean };
    Object.defineProperty(restored, 'persisted', { value: true });
    window.dispatchEvent(restored);
    window.dispatchEvent(new Event('pageshow')); // a normal load: not a restore
    document.dispatchEvent(new Event('visibilitychange')); // happy-dom is visible
    expect(log).toEqual(['offline', 'online', 'resume', 'restore', 'visible']);
    stop();
    window.dispatchEvent(new Event('online'));
    expect(log).toHaveLength(5);
    expect(clock.pending()).toBe(0);
  });

  it('reports a network change (Network Information API, where the browser has it)', () => {
    const connection = new EventTarget();
    Object.defineProperty(navigator, 'connection', { value: connection, configurable: true });
    try {
      const log: Signal[] = [];
      const stop = createBrowserSignals(createFakeClock())((signal) => log.push(signal));
      connection.dispatchEvent(new Event('change'));
      expect(log).toEqual(['network-change']);
      stop();
      connection.dispatchEvent(new Event('change'));
      expect(log).toHaveLength(1);
    } finally {
      Reflect.deleteProperty(navigator, 'connection');
    }
  });

  it('reports a wake when timers fire late after a wall-clock jump, not on normal ticks', () => {
    const clock = createFakeClock();
    const log: Signal[] = [];
    const stop = createBrowserSignals(clock, { tickMs: 1000, jumpMs: 1000 })((signal) => log.push(signal));
    clock.advance(10_000);
    expect(log).toEqual([]);
    clock.jump(30_000); // the laptop slept: no timer ran for 30 s
    clock.advance(1000);
    expect(log).toEqual(['wake']);
    clock.advance(5000);
    expect(log).toEqual(['wake']);
    stop();
  });

  it('reports a failed script, stylesheet or chunk load as load-error, and nothing else', () => {
    const log: Signal[] = [];
    const stop = createBrowserSignals(createFakeClock())((signal) => log.push(signal));
    window.dispatchEvent(new Event('vite:preloadError'));
    const fail = (element: Element) => {
      document.body.append(element);
      element.dispatchEvent(new Event('error')); // load errors do not bubble: caught on the way down
      element.remove();
    };
    fail(document.createElement('script'));
    fail(Object.assign(document.createElement('link'), { rel: 'stylesheet' }));
    fail(Object.assign(document.createElement('link'), { rel: 'modulepreload' }));
    fail(Object.assign(document.createElement('link'), { rel: 'icon' }));
    fail(document.createElement('img'));
    const rejected = (reason: unknown) => {
      const event = new Event('unhandledrejection') as Event & { reason?: unknown };
      Object.defineProperty(event, 'reason', { value: reason });
      window.dispatchEvent(event);
    };
    rejected(new TypeError('Failed to fetch dynamically imported module: https://app.example/assets/page-3f9c2ab.js'));
    rejected(Object.assign(new Error('Loading chunk 42 failed.'), { name: 'ChunkLoadError' }));
    rejected(new TypeError('Importing a module script failed.'));
    rejected(new Error('something else'));
    rejected(null);
    expect(log).toEqual(['load-error', 'load-error', 'load-error', 'load-error', 'load-error', 'load-error', 'load-error']);
    stop();
    window.dispatchEvent(new Event('vite:preloadError'));
    expect(log).toHaveLength(7);
  });
});
