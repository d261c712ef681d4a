// The deployed version, bridge side: `version set` stamps each deploy with the next number of a
// deploy sequence and keeps the deploys before it; `version rollback` goes back to the last of
// them under a new number (a later deploy of an older build: clients withdraw their offer rather
// than take it for an old server); `version show` lists them. With versionKey `app-version`:
//
//   app-version          the version name, a plain string, as before: old bridges, tutorial
//                        servers and old clients read it and the channel's messages unchanged
//   app-version:deploy   the current deploy, JSON { version, build, deploy, required?, minBuild?, at }
//   app-version:seq      the deploy sequence (INCR)
//   app-version:history  the deploys before it, newest first (JSON each; the last HISTORY_LENGTH)
//
// A deploy is published twice: the record on `app-version:deploy` (new bridges send clients the
// ordered form), then the name on `app-version` (old bridges and tutorial servers relay it as they
// always did; a new bridge skips a name it has just sent as a record, and relays any other name
// — a classic `PUBLISH app-version x` — as an unordered version). One subscriber connection gets
// the two in that order.
//
// A version keeps its build: set again (or rolled back to), it is the same code in the same place
// in the order. Without `build`, a new version's build is its deploy number. The deploy record
// counts only while the name key still says its version: a classic `SET app-version x` (an old
// deploy script) makes `x` the current version, unordered. The rules live here for the embedded
// bus and in redis-versions.ts as one Lua script, so that a deploy is one atomic command.
import type { Bus } from './bus.js';
import { parseVersionAnnouncement, versionSchema, wireBuild } from './messages.js';
import type { VersionMessage } from './messages.js';
import { parseVersion } from '../messages.js';

/** How many earlier deploys are kept for `rollback`. */
export const HISTORY_LENGTH = 20;

/** What `version set` may say besides the name. */
export interface DeployOptions {
  /**
   * The build's place in the order: a CI build number or an ISO time — the same value the pages
   * of this build were given as `currentVersion.build`.
   * @default the build this version had before, else one more than the newest numbered build kept, at least this deploy's number
   */
  build?: number | string;
  /** Every page older than this build must reload (breaking API change). @default false */
  required?: boolean;
  /** The oldest build still supported: pages below it must reload. @default undefined */
  minBuild?: number | string;
}

/** One deploy, as stored and as `set`/`rollback` resolve. */
export interface Deploy extends VersionMessage {
  build: number | string;
  /** Its number in the deploy sequence (1, 2, 3… per Redis). */
  deploy: number;
  /** When it was made, ms since the epoch. */
  at: number;
}

/** What `version show` gives: the version clients are sent, and the deploys `rollback` can return to, newest first. */
export interface VersionHistory {
  /** What clients are sent now; `null` before the first deploy. */
  current: VersionMessage | null;
  /** The deploys `rollback` returns to, newest first (at most {@link HISTORY_LENGTH}). */
  history: Deploy[];
}

/** The deploy store of one bus. */
export interface VersionStore {
  /** Deploys `version` (SET the name key, the record, PUBLISH the name), atomically. Rejects with a TypeError for a bad version or option. */
  set(version: string, options?: DeployOptions): Promise<Deploy>;
  /** Returns to the deploy before the current one, under a new deploy number. Rejects when there is none. */
  rollback(): Promise<Deploy>;
  /** What clients are sent now, and the deploys a rollback can return to. */
  show(): Promise<VersionHistory>;
  /** What clients are sent now: the deploy record while the name key says its version, else the name alone. */
  read(): Promise<VersionMessage | null>;
}

/** The Redis keys and channels of the version. */
export interface VersionKeys {
  /** The name, a plain string (`versionKey`). */
  key: string;
  /** The current deploy record, JSON. */
  deployKey: string;
  /** The deploy sequence, an integer. */
  seqKey: string;
  /** The deploys before the current one, a list, newest first. */
  historyKey: string;
  /** The name goes out here (`versionChannel`). */
  channel: string;
  /** The record goes out here, just before. */
  deployChannel: string;
}

/** The keys and channels derived from `versionKey` and `versionChannel` (see the top of this file). */
export function versionKeys(versionKey: string, channel: string): VersionKeys {
  return { key: versionKey, deployKey: `${versionKey}:deploy`, seqKey: `${versionKey}:seq`, historyKey: `${versionKey}:history`, channel, deployChannel: `${channel}:deploy` };
}

/** Checks what `set` is given; the build strings as the Lua script and the client read them. */
export function checkDeploy(version: unknown, options: DeployOptions = {}): { version: string; build: string; required: boolean; minBuild: string } {
  const name = versionSchema.safeParse(version);
  if (!name.success) throw new TypeError('invalid version: expected a non-empty string of at most 256 characters');
  const order = (value: unknown, what: string): string => {
    if (value === undefined) return '';
    const text = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : typeof value === 'string' ? value.trim() : '';
    const parsed = parseVersion({ version: 'x', build: text });
    if (text === '' || !parsed.ok || !parsed.value?.build) throw new TypeError(`invalid ${what}: expected a whole number (e.g. a CI build number) or an ISO time, got ${JSON.stringify(value)}`);
    return text;
  };
  return { version: name.data, build: order(options.build, 'build'), required: options.required === true, minBuild: order(options.minBuild, 'minBuild') };
}

/** Reads a stored deploy (a record or a history item); `null` for anything else. */
export function parseDeploy(raw: string | null | undefined): Deploy | null {
  if (typeof raw !== 'string') return null;
  const parsed = parseVersionAnnouncement(raw);
  if (!parsed.ok || parsed.value.build === undefined || parsed.value.deploy === undefined) return null;
  let at = 0;
  try {
    const value: unknown = (JSON.parse(raw) as { at?: unknown }).at;
    if (typeof value === 'number') at = value;
  } catch {
    // parseVersionAnnouncement read it: it is JSON
  }
  return { ...parsed.value, build: parsed.value.build, deploy: parsed.value.deploy, at };
}

/** What clients are sent, from the name key and the deploy record as stored. */
export function resolveVersion(name: string | null, record: string | null): VersionMessage | null {
  const plain = name === null ? null : parseVersionAnnouncement(name);
  if (!plain?.ok) return null;
  const deploy = parseDeploy(record);
  if (!deploy || deploy.version !== plain.value.version) return plain.value;
  const { at: _at, ...message } = deploy;
  return message;
}

/**
 * The embedded bus's store: the same rules as the Lua script, in this process (the demo, tests,
 * a single bridge without Redis). Commands run one at a time; the name goes out on the bus's
 * version channel, as on Redis.
 */
export function createMemoryVersions(bus: Bus, keys: VersionKeys, now: () => number = Date.now): VersionStore {
  let seq = 0;
  let record: Deploy | null = null;
  let history: Deploy[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };
  const keep = (deploy: Deploy): void => {
    history = [deploy, ...history].slice(0, HISTORY_LENGTH);
  };
  /** The record if the name key still says its version (see the top of this file); else the record a classic SET left behind goes to the history. */
  const current = async (): Promise<{ name: string | null; deploy: Deploy | null }> => {
    const name = await bus.get(keys.key);
    const plain = name === null ? null : parseVersionAnnouncement(name);
    const version = plain?.ok ? plain.value.version : null;
    if (!record || record.version === version) return { name: version, deploy: record };
    keep(record);
    record = null;
    return { name: version, deploy: null };
  };
  const buildOf = (version: string, deploy: Deploy | null): number | string | undefined =>
    (deploy?.version === version ? deploy : history.find((item) => item.version === version))?.build;
  /** A new version without a build: after the newest numbered build kept, else its deploy number (as the Lua script). */
  const nextBuild = (deploy: Deploy | null): number => {
    const numbers = [deploy, ...history].map((item) => Number(item?.build)).filter((build) => Number.isSafeInteger(build));
    return Math.max(Math.max(0, ...numbers) + 1, seq);
  };
  const write = async (deploy: Deploy): Promise<Deploy> => {
    record = deploy;
    await bus.set(keys.key, deploy.version);
    await bus.set(keys.deployKey, JSON.stringify(deploy));
    await bus.publish(keys.deployChannel, JSON.stringify(deploy));
    await bus.publish(keys.channel, deploy.version);
    return deploy;
  };

  return {
    set: (version, options) =>
      serial(async () => {
        const checked = checkDeploy(version, options);
        let { name, deploy } = await current();
        const at = now();
        if (name !== null && !deploy && name !== checked.version) {
          seq += 1;
          deploy = { version: name, build: buildOf(name, null) ?? seq, deploy: seq, at };
        }
        seq += 1;
        const next: Deploy = {
          version: checked.version,
          build: checked.build === '' ? (buildOf(checked.version, deploy) ?? nextBuild(deploy)) : wireBuild(checked.build),
          deploy: seq,
          at,
          ...(checked.required ? { required: true as const } : {}),
          ...(checked.minBuild === '' ? {} : { minBuild: wireBuild(checked.minBuild) }),
        };
        if (deploy && deploy.version !== next.version) keep(deploy);
        return write(next);
      }),
    rollback: () =>
      serial(async () => {
        const [previous, ...rest] = history;
        if (!previous) throw new Error('nothing to roll back to');
        history = rest;
        seq += 1;
        return write({ ...previous, deploy: seq, at: now() });
      }),
    show: () => serial(async () => ({ current: resolveVersion(await bus.get(keys.key), record && JSON.stringify(record)), history: [...history] })),
    read: async () => resolveVersion(await bus.get(keys.key), record && JSON.stringify(record)),
  };
}
