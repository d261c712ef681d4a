import { describe, expect, it } from 'vitest';
import type { Change } from '../src/messages';
import { createRouter } from '../src/router';

const change = (resource: string, id: number): Change => ({ resource, action: 'update', id });

describe('router', () => {
  it('delivers in order to the subscribers of the resource only', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    router.add('books', (c) => log.push(`a:${c.id}`));
    router.add('books', (c) => log.push(`b:${c.id}`));
    router.add('authors', (c) => log.push(`x:${c.id}`));
    router.dispatch(change('books', 1));
    router.dispatch(change('books', 2));
    expect(log).toEqual(['a:1', 'b:1', 'a:2', 'b:2']);
  });

  it('isolates a throwing handler and reports it', () => {
    const log: string[] = [];
    const errors: string[] = [];
    const router = createRouter((resource, cause) => errors.push(`${resource}:${(cause as Error).message}`));
    router.add('books', () => {
      throw new Error('boom');
    });
    router.add('books', (c) => log.push(`ok:${c.id}`));
    router.dispatch(change('books', 1));
    expect(log).toEqual(['ok:1']);
    expect(errors).toEqual(['books:boom']);
  });

  it('unsubscribes idempotently, also the same function added twice', () => {
    const log: number[] = [];
    const router = createRouter(() => {});
    const handler = (c: Change) => log.push(Number(c.id));
    const off1 = router.add('books', handler);
    router.add('books', handler);
    off1();
    off1();
    router.dispatch(change('books', 1));
    expect(log).toEqual([1]);
    expect(router.resources()).toEqual(['books']);
  });

  it('treats __proto__ and constructor as ordinary names', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    router.add('__proto__', (c) => log.push(c.resource));
    router.dispatch(change('__proto__', 1));
    router.dispatch(change('constructor', 1));
    router.dispatch(change('toString', 1));
    expect(log).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'books')).toBe(false);
  });

  it('lets a handler unsubscribe during dispatch without skipping others', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    const off = router.add('books', () => {
      log.push('once');
      off();
    });
    router.add('books', () => log.push('always'));
    router.dispatch(change('books', 1));
    router.dispatch(change('books', 2));
    expect(log).toEqual(['once', 'always', 'always']);
  });

  it('does not call a handler that an earlier handler removed during the same dispatch', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    let offB = () => {};
    router.add('books', () => {
      log.push('a');
      offB();
    });
    offB = router.add('books', () => log.push('b'));
    router.add('books', () => log.push('c'));
    router.dispatch(change('books', 1));
    expect(log).toEqual(['a', 'c']);
  });

  it('routes scoped changes only to subscribers of that scope', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    router.add('orders', () => log.push('unscoped'));
    router.add('orders', () => log.push('42'), 'user:42');
    router.dispatch({ resource: 'orders', action: 'create', id: 1, scope: 'user:42' });
    router.dispatch({ resource: 'orders', action: 'create', id: 2, scope: 'user:7' });
    router.dispatch({ resource: 'orders', action: 'create', id: 3 });
    router.dispatch({ resource: 'orders', action: 'create', id: 4, scope: null }); // nil / None: unscoped
    expect(log).toEqual(['42', 'unscoped', 'unscoped']);
  });

  it('stops the rest of a dispatch when a handler clears the router (close() from a handler)', () => {
    const log: string[] = [];
    const router = createRouter(() => {});
    router.add('books', () => {
      log.push('first');
      router.clear();
    });
    router.add('books', () => log.push('second'));
    router.dispatch(change('books', 1));
    expect(log).toEqual(['first']);
  });
});
