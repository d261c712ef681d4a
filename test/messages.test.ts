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
    expect(parseVersion(' abc123 ')).toEqual({ ok: true, value: { version: 'abc123', required: false } });
    expect(parseVersion(42)).toEqual({ ok: true, value: { version: '42', required: false } });
    expect(parseVersion({ version: 'v2' })).toEqual({ ok: true, value: { version: 'v2', required: false } });
  });
  it('reads the ordered form: build (number, digits or ISO time), deploy, required, minBuild', () => {
    expect(parseVersion({ version: 'v2', build: 12, deploy: 4, required: true, minBuild: '10', extra: 'kept out' })).toEqual({
      ok: true,
      value: { version: 'v2', build: { kind: 'number', value: 12, raw: 12 }, deploy: 4, required: true, minBuild: { kind: 'number', value: 10, raw: '10' } },
    });
    expect(parseVersion({ version: 'v3', build: '2025-11-29T14:58:00Z' })).toEqual({
      ok: true,
      value: { version: 'v3', required: false, build: { kind: 'time', value: Date.UTC(2025, 10, 29, 14, 58), raw: '2025-11-29T14:58:00Z' } },
    });
  });
  it('decodes JSON strings (emitters, headers and version.json send them)', () => {
    expect(parseVersion('{"version":"v2","build":3}')).toEqual({ ok: true, value: { version: 'v2', required: false, build: { kind: 'number', value: 3, raw: 3 } } });
    expect(parseVersion(' "v2" ')).toEqual({ ok: true, value: { version: 'v2', required: false } });
    expect(parseVersion('{').ok).toBe(false);
  });
  it('drops fields in shapes it does not know (a newer server) instead of refusing the version', () => {
    for (const odd of [{ build: '1.2.3' }, { build: -1.5e999 }, { build: '2025-13-45T99:00:00Z' }, { deploy: 1.5 }, { deploy: '4' }, { required: 'yes' }, { minBuild: {} }]) {
      expect(parseVersion({ version: 'v2', ...odd })).toEqual({ ok: true, value: { version: 'v2', required: false } });
    }
  });
  it('treats null, undefined and blank as no version', () => {
    for (const empty of [null, undefined, '', '   ', { version: ' ' }]) expect(parseVersion(empty)).toEqual({ ok: true, value: null });
  });
  it('rejects other shapes', () => {
    for (const bad of [true, [], { v: 1 }, '{"v":1}']) expect(parseVersion(bad).ok).toBe(false);
  });
});

describe('parseResync', () => {
  it('keeps a given reason and defaults otherwise', () => {
    expect(parseResync({ reason: 'redis-reconnect' })).toEqual({ reason: 'redis-reconnect' });
    expect(parseResync('junk')).toEqual({ reason: 'server-resync' });
  });
});
