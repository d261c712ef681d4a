// The wire boundary: every inbound payload is parsed here, once, and nothing downstream sees
// unvalidated data. The only importer of zod (its `mini` entry keeps the script tag small).
import * as z from 'zod/mini';

// Only the fields the library itself relies on are checked. The validated payload is then handed
// on as it arrived, so `obj` and any extra keys reach the handlers without zod copying them (zod's
// `mini` entry does not compile object parsers; the copy would cost as much as the check).
const changeSchema = z.object({
  resource: z.string().check(z.minLength(1)),
  action: z.enum(['create', 'update', 'destroy']),
  id: z.union([z.string().check(z.minLength(1)), z.number().check(z.int())]),
  /**
   * Who the change is for (e.g. `user:42`); absent for changes everyone subscribed may see. `null`
   * means absent too: Rails' `nil` and Python's `None` serialise to it.
   */
  scope: z.optional(z.nullable(z.string())),
});

/**
 * One change to one record, as published by the backend:
 * `{ resource: 'books', action: 'create', id: 7, obj: { … } }`, plus `scope` for changes meant
 * for one user or account only. Unknown extra keys are kept.
 */
export type Change = z.infer<typeof changeSchema> & {
  /** The record after the change (absent for some publishers, and usually for `destroy`). */
  obj?: unknown;
  [extra: string]: unknown;
};

/** What a change action can be. */
export type ChangeAction = Change['action'];

/** Result of parsing an inbound payload: the typed value, or why it was rejected. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string; cause?: unknown };

/**
 * Longest JSON string payload parsed, in characters (the bridge caps messages at the same size):
 * a runaway publisher must not make every open tab parse megabytes.
 */
export const MAX_MESSAGE_LENGTH = 1_000_000;

/** Emitter libraries in Ruby, PHP and Python often send JSON strings: accept them as well as objects. */
function decode(payload: unknown): Parsed<unknown> {
  if (typeof payload !== 'string') return { ok: true, value: payload };
  if (payload.length > MAX_MESSAGE_LENGTH) return { ok: false, reason: `payload longer than ${MAX_MESSAGE_LENGTH} characters` };
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
  if (result.success) return { ok: true, value: decoded.value as Change };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, reason: `${where}${issue?.message ?? 'invalid change'}`, cause: result.error.issues };
}

/**
 * Only `version` is needed. The other fields are read one by one and leniently: one in a shape
 * this client does not know (a newer server's build format, say) is dropped, and the version
 * counts as unordered, rather than the whole announcement being refused.
 */
const versionObjectSchema = z.looseObject({ version: z.union([z.string(), z.number()]) });
const versionSchema = z.union([z.string(), z.number(), versionObjectSchema]);
/** A build as the wire carries it: a number, a string of digits, or an ISO 8601 time (checked by `orderOf`). */
const buildSchema = z.union([z.number(), z.string()]);
const deploySchema = z.number().check(z.int(), z.gte(0));
/** The field's value if it matches `schema`, else `undefined`. */
const field = <T>(schema: z.ZodMiniType<T>, value: unknown): T | undefined => {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
};

/** A version announcement as it may arrive: `"3f9c2ab"`, `42`, or `{ version, build?, deploy?, required?, minBuild? }`. */
export type VersionPayload = z.infer<typeof versionSchema> | { version: string | number; build?: z.infer<typeof buildSchema>; deploy?: number; required?: boolean; minBuild?: z.infer<typeof buildSchema> };

/**
 * A build's place in the order of builds. Numbers and times are each ordered among themselves;
 * a number and a time cannot be compared (`kind` says which one this is).
 */
export interface BuildOrder {
  kind: 'number' | 'time';
  /** The number itself, or the time in ms since the epoch. */
  value: number;
  /** As announced (what notices show). */
  raw: number | string;
}

/** A parsed version announcement. */
export interface VersionInfo {
  /** The version name (a git sha, a tag…), trimmed. */
  version: string;
  /** Where it stands among builds, when it says: its announcements are then ordered. */
  build?: BuildOrder;
  /**
   * The deploy sequence (the bridge's `version set`/`rollback` stamp each deploy with the next
   * one): orders announcements among themselves, so a rollback (a later deploy of an older build)
   * can be told from an old server still announcing an older build.
   */
  deploy?: number;
  /** The server says every page older than this build must reload. */
  required: boolean;
  /** The oldest build the server still supports: pages below it must reload. */
  minBuild?: BuildOrder;
}

/** A build's order: numbers and digit strings are numbers; ISO 8601 times (a date, maybe a time and zone) are times. */
function orderOf(raw: unknown): BuildOrder | undefined {
  const value = field(buildSchema, raw);
  if (typeof value === 'number') return { kind: 'number', value, raw: value };
  const text = value?.trim() ?? '';
  if (/^\d+$/.test(text)) return { kind: 'number', value: Number(text), raw: text };
  const time = /^\d{4}-\d\d-\d\d([T ][\d:.]+)?(Z|[+-]\d\d:?\d\d)?$/.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(time) ? undefined : { kind: 'time', value: time, raw: text };
}

/**
 * Validates a version announcement: a string (a git sha), a number, or `{ version }` with an
 * optional `build` (number, digits or ISO time), `deploy` (integer), `required` (boolean) and
 * `minBuild`; a string holding such JSON (what Ruby, PHP and Python emitters, headers and
 * `version.json` files carry) is decoded first. `null`, `undefined` and blank strings mean "no
 * version known" and yield `{ ok: true, value: null }`.
 */
export function parseVersion(payload: unknown): Parsed<VersionInfo | null> {
  if (payload === null || payload === undefined) return { ok: true, value: null };
  let value: unknown = payload;
  if (typeof payload === 'string' && /^\s*[{"]/.test(payload)) {
    const decoded = decode(payload);
    if (!decoded.ok) return decoded;
    value = decoded.value;
  }
  const result = versionSchema.safeParse(value);
  if (!result.success) return { ok: false, reason: 'version must be a string, a number or { version }', cause: result.error.issues };
  const data = result.data;
  const version = String(typeof data === 'object' ? data.version : data).trim();
  if (version === '') return { ok: true, value: null };
  if (typeof data !== 'object') return { ok: true, value: { version, required: false } };
  const build = orderOf(data.build);
  const minBuild = orderOf(data.minBuild);
  const deploy = field(deploySchema, data.deploy);
  return {
    ok: true,
    value: { version, required: data.required === true, ...(build ? { build } : {}), ...(minBuild ? { minBuild } : {}), ...(deploy === undefined ? {} : { deploy }) },
  };
}

const resyncSchema = z.looseObject({ reason: z.optional(z.string()) });

/** Validates the bridge's `lu:resync` notice; anything unexpected still counts as a resync. */
export function parseResync(payload: unknown): { reason: string } {
  const result = resyncSchema.safeParse(payload);
  return { reason: (result.success && result.data.reason) || 'server-resync' };
}

const subscriptionSchema = z.object({ resource: z.string(), scope: z.optional(z.string()) });
const refusalSchema = z.looseObject({ resource: z.string(), scope: z.optional(z.string()), code: z.string(), message: z.optional(z.string()) });
const epochSchema = z.optional(z.string().check(z.minLength(1), z.maxLength(64)));
const offsetSchema = z.optional(z.number().check(z.int(), z.gte(0)));
const logLineSchema = z.looseObject({ resource: z.string(), scope: z.optional(z.string()), status: z.string(), epoch: epochSchema, offset: offsetSchema, changes: z.optional(z.array(z.unknown())) });
const helloSchema = z.looseObject({
  v: z.number(),
  denied: z.optional(z.array(refusalSchema)),
  batch: z.optional(z.boolean()),
  log: z.optional(z.boolean()),
  positions: z.optional(z.array(logLineSchema)),
  refetchDelayMs: z.optional(z.number().check(z.gte(0), z.lte(600_000))),
});
const replySchema = z.looseObject({ ok: z.boolean(), code: z.optional(z.string()), message: z.optional(z.string()), epoch: epochSchema, offset: offsetSchema });
const batchReplySchema = z.looseObject({ results: z.array(z.unknown()) });

/** A subscription request as the bridge sees it. */
export type Subscription = z.infer<typeof subscriptionSchema>;
/** A subscription the bridge refused, with its reason code (`forbidden`, `rate-limited`…). */
export type Refusal = z.infer<typeof refusalSchema>;

/**
 * One subscription's line in the greeting of a bridge with a change log: what it missed since the
 * position sent (`status: 'ok'`, `changes` in order), that the log cannot tell (`'refetch'`), or
 * where it starts (`'new'`); `epoch` and `offset` are the log's position at the greeting.
 */
export type LogLine = z.infer<typeof logLineSchema>;

/** The bridge's greeting, parsed. */
export interface Hello {
  v: number;
  denied: Refusal[];
  batch: boolean;
  /** The bridge keeps a change log: one line per handshake subscription it joined. Absent otherwise. */
  positions?: LogLine[];
  refetchDelayMs?: number;
}

/**
 * Validates the bridge's `lu:hello`: the protocol version, the handshake subscriptions it refused,
 * the change log's lines, and, for a client that asked for one, its refetch slot in ms from now.
 */
export function parseHello(payload: unknown): Hello | null {
  const result = helloSchema.safeParse(payload);
  if (!result.success) return null;
  const { v, denied = [], batch = false, log = false, positions = [], refetchDelayMs } = result.data;
  return { v, denied, batch, ...(log ? { positions } : {}), ...(refetchDelayMs === undefined ? {} : { refetchDelayMs }) };
}

/** The bridge's answer to one `lu:subscribe`; with a change log, the position the subscription starts at. */
export interface Reply {
  ok: boolean;
  code: string;
  message: string;
  position?: { epoch: string; offset: number };
}

/** Validates the bridge's answer to a batch `lu:subscribe`: one reply per subscription sent, in order. */
export function parseBatchReply(payload: unknown, count: number): Reply[] {
  const result = batchReplySchema.safeParse(payload);
  const results = result.success ? result.data.results : [];
  return Array.from({ length: count }, (_, index) => parseReply(results[index]));
}

/** Validates the bridge's answer to `lu:subscribe`; anything unexpected counts as a failure. */
export function parseReply(payload: unknown): Reply {
  const result = replySchema.safeParse(payload);
  if (!result.success) return { ok: false, code: 'invalid-reply', message: 'unexpected reply' };
  const { ok, code, message, epoch, offset } = result.data;
  return { ok, code: code ?? (ok ? 'ok' : 'refused'), message: message ?? '', ...(epoch !== undefined && offset !== undefined ? { position: { epoch, offset } } : {}) };
}

// ---- Messages between tabs (shareTabs) ---------------------------------------------------------
// Another tab is as untrusted as the network: a different build of the app, a script injected
// into one tab, a message forged on the channel. Everything posted on the tabs' channel is parsed
// here before it is acted on, and a change it carries is parsed again with `parseChange`.

/** Every gap reason, as the wire between tabs carries it. */
const GAP_REASONS = ['transport-close', 'transport-error', 'ping-timeout', 'server-disconnect', 'offline', 'dead-link', 'server-resync', 'hand-over'] as const;
const STATE_REASONS = ['start', 'connected', 'reconnected', 'recovered', 'replayed', 'refused', 'kicked', 'closed', 'client-disconnect', ...GAP_REASONS] as const;
const tabIdSchema = z.string().check(z.minLength(1), z.maxLength(64));
const keySchema = z.string().check(z.maxLength(10_000));
const termSchema = z.number().check(z.int(), z.gte(1));
const stateInfoSchema = z.object({
  state: z.enum(['connecting', 'connected', 'reconnecting', 'offline', 'closed']),
  reason: z.enum(STATE_REASONS),
  since: z.number(),
  nextRetryAt: z.optional(z.number()),
  attempt: z.optional(z.number()),
});
const fromLeader = { from: tabIdSchema, term: termSchema };
const tabMessageSchema = z.union([
  /** A tab (new, restored, resumed) asks who leads; the leader answers `lead`. */
  z.looseObject({ t: z.literal('who'), from: tabIdSchema }),
  /** A tab's shared subscriptions, the whole list each time. */
  z.looseObject({ t: z.literal('wants'), from: tabIdSchema, subs: z.array(subscriptionSchema).check(z.maxLength(10_000)) }),
  /** A tab leaves (closed, navigated, frozen): its share of the subscriptions is released. */
  z.looseObject({ t: z.literal('bye'), from: tabIdSchema }),
  /** The leader's announcement and snapshot: its state, what is live, whether a gap is still settling. */
  z.looseObject({ t: z.literal('lead'), ...fromLeader, info: stateInfoSchema, live: z.array(keySchema), settling: z.boolean() }),
  /** The leader's heartbeat. */
  z.looseObject({ t: z.literal('beat'), ...fromLeader, info: stateInfoSchema, settling: z.boolean() }),
  z.looseObject({ t: z.literal('resign'), ...fromLeader }),
  z.looseObject({ t: z.literal('change'), ...fromLeader, change: z.unknown() }),
  z.looseObject({ t: z.literal('state'), ...fromLeader, info: stateInfoSchema }),
  z.looseObject({ t: z.literal('live'), ...fromLeader, live: z.array(keySchema) }),
  z.looseObject({ t: z.literal('lost'), ...fromLeader }),
  z.looseObject({ t: z.literal('gap'), ...fromLeader, reason: z.enum(GAP_REASONS), covered: z.array(keySchema) }),
  z.looseObject({ t: z.literal('recovered'), ...fromLeader }),
  z.looseObject({ t: z.literal('slot'), ...fromLeader, delayMs: z.number().check(z.gte(0), z.lte(600_000)) }),
  z.looseObject({ t: z.literal('version'), ...fromLeader, payload: z.unknown(), source: z.string().check(z.maxLength(200)), origin: z.enum(['socket', 'connect']) }),
  z.looseObject({ t: z.literal('refused'), ...fromLeader, refusal: refusalSchema, retryInMs: z.nullable(z.number().check(z.gte(0))) }),
  z.looseObject({ t: z.literal('pos'), ...fromLeader, key: keySchema, epoch: z.string().check(z.minLength(1), z.maxLength(64)), offset: z.number().check(z.int(), z.gte(0)) }),
]);

/** A message between tabs sharing one connection, validated. */
export type TabMessage = z.infer<typeof tabMessageSchema>;
/** A message of the leader tab (it carries the leader's `term`). */
export type LeaderMessage = Extract<TabMessage, { term: number }>;

/** Validates a message from another tab (another build of the app, a forgery…). Never throws. */
export function parseTabMessage(payload: unknown): Parsed<TabMessage> {
  const result = tabMessageSchema.safeParse(payload);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: result.error.issues[0]?.message ?? 'invalid message between tabs', cause: result.error.issues };
}
