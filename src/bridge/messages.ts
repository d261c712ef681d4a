// The wire, seen from the bridge: what may come in on the Redis channels and from clients, and
// what goes out to browsers. Everything inbound is parsed here once; the rest of the bridge only
// sees typed values. Changes are checked by the browser client's own parser (src/messages.ts,
// shared by the build), so the bridge forwards exactly what clients accept. The only importer of
// zod in the bridge.
import * as z from 'zod/mini';
import { parseChange, parseVersion } from '../messages.js';
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
 * A version as the bridge relays it: the ordered form (sent as an object to live-updates
 * clients), or the name alone (sent as a plain string, as it always was). Fields as the client
 * reads them (src/messages.ts `parseVersion`, shared by the build).
 */
export interface VersionMessage {
  /** The version name, e.g. a git sha. */
  version: string;
  /** Where the build stands among builds: a number (digits arrive as a number) or an ISO time. */
  build?: number | string;
  /** The deploy sequence number that announced it (`version set`/`rollback`). */
  deploy?: number;
  /** Pages older than this build must reload. */
  required?: true;
  /** The oldest build still supported: pages below it must reload. */
  minBuild?: number | string;
}

/** A build as the bridge sends it: digits as a number when they fit one exactly, else as given. */
export function wireBuild(raw: number | string): number | string {
  return typeof raw === 'string' && /^\d+$/.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : raw;
}

/**
 * Parses one version announcement: the plain string a deploy script publishes (a JSON string,
 * `"abc"` quotes included, is unwrapped: some publishers JSON-encode everything), or the ordered
 * form as JSON `{ version, build?, deploy?, required?, minBuild? }`. Never throws.
 */
export function parseVersionAnnouncement(raw: string): ParseResult<VersionMessage> {
  if (typeof raw !== 'string') return { ok: false, error: 'not a string' };
  const parsed = parseVersion(raw);
  if (!parsed.ok) return { ok: false, error: parsed.reason };
  const info = parsed.value;
  if (!info) return { ok: false, error: 'empty version' };
  const checked = versionSchema.safeParse(info.version);
  if (!checked.success) return { ok: false, error: summarizeIssues(checked.error.issues) };
  return {
    ok: true,
    value: {
      version: checked.data,
      ...(info.build ? { build: wireBuild(info.build.raw) } : {}),
      ...(info.deploy === undefined ? {} : { deploy: info.deploy }),
      ...(info.required ? { required: true as const } : {}),
      ...(info.minBuild ? { minBuild: wireBuild(info.minBuild.raw) } : {}),
    },
  };
}

/**
 * Parses one version message and gives its name (see {@link parseVersionAnnouncement} for the
 * whole announcement). Never throws.
 */
export function parseVersionMessage(raw: string): ParseResult<string> {
  const parsed = parseVersionAnnouncement(raw);
  return parsed.ok ? { ok: true, value: parsed.value.version } : parsed;
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
