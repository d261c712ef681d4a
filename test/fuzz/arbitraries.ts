// Hostile inputs shared by the fuzz tests, and the pollution check. Everything here is JSON (or
// a string), because that is what crosses Redis and socket.io.
import fc from 'fast-check';

const dangerousKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** Keys that are ordinary strings, mixed with the ones that pollute careless code. */
export const key = fc.oneof(fc.constantFrom(...dangerousKeys), fc.string({ maxLength: 8 }));

/** An object with own `__proto__`/`constructor`/`prototype` keys, built the way JSON.parse builds it. */
const pollutingObject = fc
  .array(fc.tuple(key, fc.jsonValue({ maxDepth: 2 })), { maxLength: 6 })
  .map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`) as unknown);

/** Nesting far past what any schema expects (arrays or objects, up to 3,000 deep). */
export const deep = fc.tuple(fc.integer({ min: 50, max: 3000 }), fc.boolean()).map(([depth, arrays]) => JSON.parse(arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown);

/** Strings up to ~120 kB, including ones that mention `__proto__`. */
export const huge = fc.tuple(fc.constantFrom('x', '"__proto__"', '\u{1F600}', '\\', '{'), fc.integer({ min: 1000, max: 40_000 })).map(([unit, n]) => unit.repeat(n));

/** Change-shaped objects with hostile parts: resource names like `__proto__`, bad actions and ids, odd scopes, polluting objs. */
export const changeLike: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.record(
      {
    resource: fc.oneof(fc.constantFrom('books', ...dangerousKeys, ''), fc.string({ maxLength: 10 })),
    action: fc.oneof(fc.constantFrom('create', 'update', 'destroy'), fc.string({ maxLength: 8 })),
    id: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })),
    obj: fc.oneof(pollutingObject, fc.jsonValue({ maxDepth: 3 })),
        scope: fc.oneof(fc.constantFrom('user:42', '__proto__', ''), fc.string({ maxLength: 6 }), fc.integer()),
      },
      { requiredKeys: [] },
    ),
    fc.option(pollutingObject),
  )
  // An own "__proto__" key, as JSON.parse makes it (an object literal would set the prototype instead).
  .map(([record, polluter]) => JSON.parse(polluter === null ? JSON.stringify(record) : `{"__proto__":${JSON.stringify(polluter)},${JSON.stringify(record).slice(1)}`.replace(',}', '}')) as Record<string, unknown>);

/** Any JSON value, weighted towards the hostile kinds. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 4 }), weight: 4 },
  { arbitrary: pollutingObject, weight: 3 },
  { arbitrary: changeLike, weight: 4 },
  { arbitrary: deep, weight: 1 },
  { arbitrary: huge, weight: 1 },
);

/** Change messages whose `obj` nests up to 100,000 deep (deeper than any recursive encoder's stack). */
export const deepText = fc.tuple(fc.integer({ min: 1000, max: 100_000 }), fc.boolean()).map(([depth, arrays]) =>
  `{"resource":"books","action":"create","id":${depth},"obj":${arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`}}`,
);

/** Strings as a Redis publisher might send them: JSON of hostile values, truncated JSON, raw junk. */
export const hostileMessage: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: hostileJson.map((value) => JSON.stringify(value) ?? 'null'), weight: 6 },
  { arbitrary: fc.tuple(changeLike, fc.nat()).map(([value, cut]) => { const s = JSON.stringify(value); return s.slice(0, cut % (s.length + 1)); }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40, unit: 'binary' }), weight: 2 },
  { arbitrary: deepText, weight: 1 },
  { arbitrary: fc.constantFrom('{"resource":"books","action":"create","id":1,"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '"\\"__proto__\\""', '', 'null', '[]'), weight: 1 },
);

const baseline = {
  object: Object.getOwnPropertyNames(Object.prototype).sort().join(),
  array: Object.getOwnPropertyNames(Array.prototype).sort().join(),
  func: Object.getOwnPropertyNames(Function.prototype).sort().join(),
};

/** Throws if any built-in prototype gained a property (a sentinel and the full key lists). */
export function assertNoPollution(): void {
  const probe = {} as Record<string, unknown>;
  if (probe.polluted !== undefined || Object.keys(Object.prototype).length !== 0) throw new Error('Object.prototype polluted');
  if (Object.getOwnPropertyNames(Object.prototype).sort().join() !== baseline.object) throw new Error('Object.prototype changed');
  if (Object.getOwnPropertyNames(Array.prototype).sort().join() !== baseline.array) throw new Error('Array.prototype changed');
  if (Object.getOwnPropertyNames(Function.prototype).sort().join() !== baseline.func) throw new Error('Function.prototype changed');
}

/** Inputs tried per target, printed once at the end so the figures can be quoted. */
export function createTally(suite: string) {
  const counts = new Map<string, number>();
  return {
    add: (target: string, runs: number) => counts.set(target, (counts.get(target) ?? 0) + runs),
    print() {
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      const lines = [...counts].map(([target, n]) => `  ${target}: ${n} inputs, 0 failures`);
      console.log(`[fuzz] ${suite}: ${total} inputs\n${lines.join('\n')}`);
    },
  };
}
