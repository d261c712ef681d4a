import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH, parseChange, parseResync, parseVersion } from '../src/messages';

describe('parseChange', () => {
  it('accepts objects and JSON strings, keeping unknown keys', () => {
    const change = { resource: 'books', action: 'create', id: 7, obj: { title: 'Dune' }, extra: 1 };
    expect(parseChange(change)).toEqual({ ok: true, value: change });
    expect(parseChange(JSON.stringify(change))).toEqual({ ok: true, value: change });
    expect(parseChange({ resource: 'books', action: 'destroy', id: 'a-1' })).toEqual({ ok: true, value: { resource: 'books', action: 'destroy', id: 'a-1' } });
  });

  it.each([
    ['bad JSON', '{"resource":'],
    ['a number', 42],
    ['null', null],
    ['an array', [{ resource: 'books', action: 'create', id: 1 }]],
    ['an unknown action', { resource: 'books', action: 'explode', id: 1 }],
    ['a missing id', { resource: 'books', action: 'create' }],
    ['an empty resource', { resource: '', action: 'create', id: 1 }],
    ['an object id', { resource: 'books', action: 'create', id: { $gt: 1 } }],
    ['a fractional id', { resource: 'books', action: 'create', id: 1.5 }],
  ])('rejects %s with a reason', (_label, payload) => {
    const parsed = parseChange(payload);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/\w/);
  });

  it('refuses JSON strings over the size cap before parsing them', () => {
    const huge = JSON.stringify({ resource: 'books', action: 'create', id: 1, obj: 'x'.repeat(MAX_MESSAGE_LENGTH) });
    expect(parseChange(huge)).toMatchObject({ ok: false, reason: expect.stringMatching(/longer than/) });
    expect(parseChange(JSON.stringify({ resource: 'books', action: 'create', id: 1, obj: 'x'.repeat(1000) })).ok).toBe(true);
  });

  it('does not pollute prototypes with __proto__ keys', () => {
    const parsed = parseChange('{"resource":"books","action":"update","id":1,"__proto__":{"polluted":true},"obj":{"__proto__":{"polluted":true}}}');
    expect(parsed.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseVersion', () => {
  it('reads strings, numbers and { version }, trimming', () => {
    expect(parseVersion(' abc123 ')).toEqual({ ok: true, value: 'abc123' });
    expect(parseVersion(42)).toEqual({ ok: true, value: '42' });
    expect(parseVersion({ version: 'v2' })).toEqual({ ok: true, value: 'v2' });
  });
  it('treats null, undefined and blank as no version', () => {
    for (const empty of [null, undefined, '', '   ']) expect(parseVersion(empty)).toEqual({ ok: true, value: null });
  });
  it('rejects other shapes', () => {
    for (const bad of [true, [], { v: 1 }]) expect(parseVersion(bad).ok).toBe(false);
  });
});

describe('parseResync', () => {
  it('keeps a given reason and defaults otherwise', () => {
    expect(parseResync({ reason: 'redis-reconnect' })).toEqual({ reason: 'redis-reconnect' });
    expect(parseResync('junk')).toEqual({ reason: 'server-resync' });
  });
});
