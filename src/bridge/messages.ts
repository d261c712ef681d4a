// The wire, seen from the bridge: what may come in on the Redis channels and from clients, and
// what goes out to browsers. Everything inbound is parsed here once; the rest of the bridge only
// sees typed values. Changes are checked by the browser client's own parser (src/messages.ts,
// shared by the build), so the bridge forwards exactly what clients accept. The only importer of
// zod in the bridge.
import * as z from 'zod/mini';
import { parseChange } from '../messages.js';
import type { Change } from '../messages.js';
import { PROTOCOL } from '../subscriptions.js';
import type { LogPosition } from './change-log.js';

export type { Change, ChangeAction } from '../messages.js';

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
  if (typeof raw !== 'string') return { ok: false, error: 'not a string' };
  const parsed = parseChange(raw);
  return parsed.ok ? parsed : { ok: false, error: parsed.reason };
}

/** Validates a change given as a value (what `publishChange` receives). Never throws. */
export function checkChange(value: unknown): ParseResult<Change> {
  // parseChange would decode a string; publishChange takes objects only.
  if (typeof value !== 'object' || value === null) return { ok: false, error: 'expected an object' };
  const parsed = parseChange(value);
  return parsed.ok ? parsed : { ok: false, error: parsed.reason };
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

/** Limits on what a client may ask for. */
export interface SubscriptionLimits {
  /** Longest resource or scope name, in characters. */
  maxNameLength: number;
}

/** One subscription as a client asks for it; in a handshake, with where it stands in the log. */
export interface Subscription {
  resource: string;
  scope?: string;
  /** The last log position the client has for it (see change-log.ts). */
  position?: LogPosition;
}

/** The result of parsing a subscription; a refusal echoes the resource (and scope) when they are strings. */
export type SubscriptionResult = { ok: true; value: Subscription } | { ok: false; error: string; resource?: string; scope?: string };

/**
 * Builds the parser of one subscription (`{ resource, scope? }`) sent by a client. It never
 * throws; unknown keys are dropped.
 */
export function createSubscriptionParser({ maxNameLength }: SubscriptionLimits): (value: unknown) => SubscriptionResult {
  const name = z.string().check(z.minLength(1), z.maxLength(maxNameLength));
  const strict = z.object({ resource: name, scope: z.optional(name), epoch: z.optional(z.string().check(z.minLength(1), z.maxLength(64))), offset: z.optional(z.number().check(z.int(), z.gte(0))) });
  const loose = z.object({ resource: z.string(), scope: z.optional(z.string()) });
  return (value) => {
    const result = strict.safeParse(value);
    if (result.success) {
      const { resource, scope, epoch, offset } = result.data;
      return { ok: true, value: { resource, ...(scope === undefined ? {} : { scope }), ...(epoch === undefined || offset === undefined ? {} : { position: { epoch, offset } }) } };
    }
    const echo = loose.safeParse(value);
    const where = echo.success ? { resource: echo.data.resource, ...(echo.data.scope === undefined ? {} : { scope: echo.data.scope }) } : {};
    return { ok: false, error: summarizeIssues(result.error.issues), ...where };
  };
}

/**
 * The protocol key of the client's handshake `auth`: `{ v, subs, refetch? }` (`refetch`: it will
 * refetch after a shared gap and asks for a slot), or `undefined` for a client that does not speak it.
 */
export function readHandshakeList(auth: unknown): { subs: unknown[]; refetch: boolean } | undefined {
  if (!auth || typeof auth !== 'object' || !Object.hasOwn(auth, PROTOCOL.authKey)) return undefined;
  const lu: unknown = (auth as Record<string, unknown>)[PROTOCOL.authKey];
  const fields = lu && typeof lu === 'object' ? (lu as Record<string, unknown>) : {};
  return { subs: Array.isArray(fields.subs) ? fields.subs : [], refetch: fields.refetch === true };
}
