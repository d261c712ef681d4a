// The wire, seen from the bridge: what may come in on the Redis channels and what goes out to
// browsers. Everything published on Redis is parsed here once; the rest of the bridge only sees
// typed values. The only importer of zod in the bridge.
import * as z from 'zod/mini';

/** The three things a backend model callback can report. */
export const changeActionSchema = z.enum(['create', 'update', 'destroy']);

/**
 * One record change, as published on the change channel and emitted to browsers.
 * Unknown keys are kept and forwarded, so a newer backend can add fields for newer clients.
 */
export const changeSchema = z.looseObject({
  resource: z.string().check(z.minLength(1)),
  action: changeActionSchema,
  id: z.union([z.string().check(z.minLength(1)), z.number()]),
  obj: z.optional(z.unknown()),
});

/** A record change: `{ resource, action, id, obj? }`. */
export type Change = z.infer<typeof changeSchema>;

/** `'create' | 'update' | 'destroy'`. */
export type ChangeAction = z.infer<typeof changeActionSchema>;

/** A deployed version: a non-empty string without surrounding blanks (e.g. a git sha). */
export const versionSchema = z.string().check(z.trim(), z.minLength(1), z.maxLength(256));

/** What parsing an inbound message gives: the typed value, or why it was refused. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Parses one change message from Redis (a JSON string). Never throws.
 *
 * @example
 * parseChangeMessage('{"resource":"books","action":"create","id":1}') // { ok: true, value: {...} }
 */
export function parseChangeMessage(raw: string): ParseResult<Change> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  return checkChange(json);
}

/** Validates a change given as a value (what `publishChange` receives). Never throws. */
export function checkChange(value: unknown): ParseResult<Change> {
  const result = changeSchema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: summarizeIssues(result.error.issues) };
}

/**
 * Parses one version message (the plain string a deploy script publishes). Never throws.
 * A message that is itself a JSON string (`"abc"`, quotes included) is unwrapped, because
 * some publishers JSON-encode everything.
 */
export function parseVersionMessage(raw: string): ParseResult<string> {
  let candidate: unknown = raw;
  if (raw.startsWith('"')) {
    try {
      candidate = JSON.parse(raw);
    } catch {
      candidate = raw;
    }
  }
  const result = versionSchema.safeParse(candidate);
  if (result.success && result.data.length > 0) return { ok: true, value: result.data };
  return { ok: false, error: result.success ? 'empty version' : summarizeIssues(result.error.issues) };
}

function summarizeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .slice(0, 3)
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
