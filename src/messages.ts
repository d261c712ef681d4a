// The wire boundary: every inbound payload is parsed here, once, and nothing downstream sees
// unvalidated data. The only importer of zod (its `mini` entry keeps the script tag small).
import * as z from 'zod/mini';

const changeSchema = z.looseObject({
  resource: z.string().check(z.minLength(1)),
  action: z.enum(['create', 'update', 'destroy']),
  id: z.union([z.string().check(z.minLength(1)), z.number().check(z.int())]),
  obj: z.optional(z.unknown()),
});

/**
 * One change to one record, as published by the backend:
 * `{ resource: 'books', action: 'create', id: 7, obj: { … } }`. Unknown extra keys are kept.
 */
export type Change = z.infer<typeof changeSchema>;

/** What a change action can be. */
export type ChangeAction = Change['action'];

/** Result of parsing an inbound payload: the typed value, or why it was rejected. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string; cause?: unknown };

/** Emitter libraries in Ruby, PHP and Python often send JSON strings: accept them as well as objects. */
function decode(payload: unknown): Parsed<unknown> {
  if (typeof payload !== 'string') return { ok: true, value: payload };
  try {
    return { ok: true, value: JSON.parse(payload) as unknown };
  } catch (cause) {
    return { ok: false, reason: 'payload is not valid JSON', cause };
  }
}

/** Validates one change message (object or JSON string). Never throws. */
export function parseChange(payload: unknown): Parsed<Change> {
  const decoded = decode(payload);
  if (!decoded.ok) return decoded;
  const result = changeSchema.safeParse(decoded.value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, reason: `${where}${issue?.message ?? 'invalid change'}`, cause: result.error.issues };
}

const versionSchema = z.union([z.string(), z.number(), z.looseObject({ version: z.union([z.string(), z.number()]) })]);

/**
 * Validates a version announcement: a string (a git sha), a number, or `{ version }`.
 * `null`, `undefined` and blank strings mean "no version known" and yield `{ ok: true, value: null }`.
 */
export function parseVersion(payload: unknown): Parsed<string | null> {
  if (payload === null || payload === undefined) return { ok: true, value: null };
  const result = versionSchema.safeParse(payload);
  if (!result.success) return { ok: false, reason: 'version must be a string, a number or { version }', cause: result.error.issues };
  const raw = typeof result.data === 'object' ? result.data.version : result.data;
  const value = String(raw).trim();
  return { ok: true, value: value === '' ? null : value };
}

const resyncSchema = z.looseObject({ reason: z.optional(z.string()) });

/** Validates the bridge's `lu:resync` notice; anything unexpected still counts as a resync. */
export function parseResync(payload: unknown): { reason: string } {
  const result = resyncSchema.safeParse(payload);
  return { reason: (result.success && result.data.reason) || 'server-resync' };
}
