// The client's side of replay (src/replay.ts) on its own, with a manual clock: positions, holding
// until the greeting, dedup by offset, and what happens when no greeting comes.
import { describe, expect, it } from 'vitest';
import type { Change } from '../src/messages';
import { createReplay, GREETING_WAIT_MS } from '../src/replay';
import { keyOf } from '../src/subscriptions';
import { createFakeClock } from './helpers/fake-clock';

const BOOKS = keyOf('books', undefined);
const change = (id: number, offset?: number, epoch = 'e1'): Change => ({ resource: 'books', action: 'update', id, ...(offset === undefined ? {} : { offset, epoch }) });

function setup() {
  const clock = createFakeClock();
  const log: string[] = [];
  const replay = createReplay({
    clock,
    deliver: (c) => log.push(`${String(c.id)}`),
    onInvalid: (reason) => log.push(`invalid: ${reason}`),
    onGreetingMissed: () => log.push('no greeting'),
  });
  return { clock, log, replay };
}

describe('replay (client side)', () => {
  it('remembers the last offset per subscription and drops a change it already had', () => {
    const { log, replay } = setup();
    replay.receive(change(1, 1));
    replay.receive(change(2, 2));
    replay.receive(change(1, 1)); // a duplicate
    replay.receive(change(9)); // no offset (plain PUBLISH): always delivered
    expect(log).toEqual(['1', '2', '9']);
    expect(replay.positionOf(BOOKS)).toEqual({ epoch: 'e1', offset: 2 });
    replay.receive(change(3, 1, 'e2')); // a new life of the log: taken as is
    expect(replay.positionOf(BOOKS)).toEqual({ epoch: 'e2', offset: 1 });
    replay.acknowledged(BOOKS, { epoch: 'e2', offset: 0 }); // never moves back
    expect(replay.positionOf(BOOKS)).toEqual({ epoch: 'e2', offset: 1 });
    replay.forget(BOOKS);
    expect(replay.positionOf(BOOKS)).toBeUndefined();
  });

  it('after a bridge with a log greeted once, holds live changes until the next greeting and replays first', () => {
    const { log, replay } = setup();
    expect(replay.greeted([{ resource: 'books', status: 'new', epoch: 'e1', offset: 0 }])).toEqual(new Set());
    replay.receive(change(1, 1));
    replay.lost();
    replay.connected();
    expect(replay.awaiting()).toBe(true);
    replay.receive(change(4, 4)); // live, before the greeting
    replay.receive(change(3, 3));
    expect(log).toEqual(['1']);
    const lines = [{ resource: 'books', status: 'ok', epoch: 'e1', offset: 3, changes: [JSON.stringify(change(2, 2)), JSON.stringify(change(3, 3)), '{"broken'] }];
    expect(replay.greeted(lines)).toEqual(new Set([BOOKS]));
    expect(log).toEqual(['1', '2', '3', 'invalid: payload is not valid JSON', '4']);
    expect(replay.covered()).toEqual(new Set([BOOKS]));
  });

  it('hands over live changes held before a greeting whose line only says where the log is (new, refetch)', () => {
    // Published after the connection joined its rooms and before the bridge read the log: the
    // line's offset counts them, but this page has not had them (its load may have run before).
    const { log, replay } = setup();
    replay.greeted([]); // greeted by a bridge with a log, before books was subscribed
    replay.connected();
    replay.receive(change(2, 2));
    replay.greeted([{ resource: 'books', status: 'new', epoch: 'e1', offset: 2 }]);
    expect(log).toEqual(['2']);
    expect(replay.positionOf(BOOKS)).toEqual({ epoch: 'e1', offset: 2 });
    replay.lost();
    replay.connected();
    replay.receive(change(5, 5));
    replay.receive(change(2, 2)); // had: dropped
    replay.greeted([{ resource: 'books', status: 'refetch', epoch: 'e1', offset: 5 }]);
    expect(log).toEqual(['2', '5']);
    expect(replay.positionOf(BOOKS)).toEqual({ epoch: 'e1', offset: 5 });
  });

  it('without a greeting in time, hands over what it held and says so', () => {
    const { clock, log, replay } = setup();
    replay.greeted([]);
    replay.connected();
    replay.receive(change(5, 5));
    clock.advance(GREETING_WAIT_MS - 1);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['5', 'no greeting']);
    expect(replay.awaiting()).toBe(false);
  });

  it('holds nothing when the last greeting had no log (a bridge without one, or a plain server)', () => {
    const { log, replay } = setup();
    replay.connected();
    replay.receive(change(1, 1));
    replay.greeted(undefined); // a bridge with logMaxLength 0
    replay.connected();
    replay.receive(change(2, 2));
    expect(log).toEqual(['1', '2']);
    expect(replay.awaiting()).toBe(false);
  });
});
