// The version rule, hand-written because it is ours (the version-poll plugins compare "differs from
// the running one", which prompts a downgrade in every rolling deploy). In order:
// 1. The running version is the one the page was built with (`currentVersion`), or else the first
//    one heard. A page that knows only its version name learns its build from the first
//    announcement of that name that carries one.
// 2. Which announcement is the server's word now: of two with a deploy sequence, the later deploy;
//    else of two with comparable builds, the newer build (an older build is an old server still
//    answering in a rolling deploy: ignored, so two servers never make the notice flap); a name
//    alone from a header or the versionUrl file never outranks an ordered word (an old server, a
//    stale copy); else the one heard last. What a server says on a new connection is its word
//    now, whatever came before (a deploy sequence that started over).
// 3. What is on offer: that announcement, if it is newer than the running version — by build when
//    both have comparable builds (numbers with numbers, times with times), else by differing name.
//    An ordered announcement that is not newer (the running build, or an older one) offers
//    nothing: when it carries a deploy sequence (a rollback) it withdraws the current offer;
//    without one it changes nothing (an old server). No downgrade is ever offered.
// 4. A notice fires each time the offer changes (name, build or severity). An unordered version
//    without a deploy sequence is offered once, ever (today's rule: it cannot be told from an
//    old server answering again).
import type { BuildOrder, VersionInfo } from './messages';

/**
 * Payload of `onNewVersion`: what this page runs and what is on offer now. Fired each time the
 * offer changes: a newer version deployed, an offer replaced by another (a rollback to a build
 * still newer than this page's), or withdrawn (`latest: null`: a rollback to this page's build
 * or an older one).
 */
export interface VersionChange {
  /** The version this page runs. */
  current: string;
  /** The version on offer now; `null` when the offer was withdrawn (only after an announcement with a deploy sequence). */
  latest: string | null;
  /**
   * Whether the server says this page must reload: the offer says `required: true`, or this
   * page's build is below the offer's `minBuild`. `false` when nothing is on offer.
   */
  required: boolean;
  /** The offered version's build, as announced (a number, or an ISO time string), when it has one. */
  build?: number | string;
}

/** The version on offer, as `live.availableVersion` reads it. */
export interface AvailableVersion {
  /** The version name. */
  version: string;
  /** Its build as announced, when it has one. */
  build?: number | string;
  /** Whether this page must reload (see {@link VersionChange.required}). */
  required: boolean;
}

/** Where an announcement came from (see {@link VersionTracker.receive}). */
export type VersionSource = 'socket' | 'connect' | 'hint';

/** Tracks the running version and decides which announcements change the offer. */
export interface VersionTracker {
  /**
   * Feeds one announcement (`null` = none known); returns the notice to fire, if any. `from`:
   * `'socket'`, a message on a live connection; `'connect'`, the first one of a new connection:
   * the server's word now, taken even where rule 2 would keep the earlier one (a deploy sequence
   * that started over: a restarted embedded bridge, a flushed Redis); `'hint'`, a response header
   * or the `versionUrl` file, where a name alone may be an old server or a stale copy, so it
   * never outranks an ordered word. @default 'socket'
   */
  receive(info: VersionInfo | null, from?: VersionSource): VersionChange | null;
  /** The notice new listeners hear at once: the current offer, if there is one. */
  pending(): VersionChange | null;
  /** The current offer, or `null`. */
  available(): AvailableVersion | null;
  /** The running version, once known. */
  current(): string | null;
}

const comparable = (a: BuildOrder | undefined, b: BuildOrder | undefined): [BuildOrder, BuildOrder] | null => (a && b && a.kind === b.kind ? [a, b] : null);

/** Creates a tracker; `initial` is the version the page was built with, if known. */
export function createVersionTracker(initial?: VersionInfo | null): VersionTracker {
  let running: { version: string; build?: BuildOrder } | null = initial ? { version: initial.version, ...(initial.build ? { build: initial.build } : {}) } : null;
  let heard: VersionInfo | null = null;
  let offer: VersionInfo | null = null;
  const offered = new Set<string>();

  /** Rule 2: does `next` (from `from`) replace `prev` as the server's word? */
  const supersedes = (next: VersionInfo, prev: VersionInfo, from: VersionSource): boolean => {
    if (from === 'connect') return true;
    if (next.deploy !== undefined && prev.deploy !== undefined) return next.deploy >= prev.deploy;
    if (from === 'hint' && next.deploy === undefined && !next.build && (prev.deploy !== undefined || prev.build)) return false;
    const pair = comparable(next.build, prev.build);
    return pair ? pair[0].value >= pair[1].value : true;
  };
  /** Rule 3: newer than the running version (`null`: cannot tell, the names differ). */
  const isNewer = (info: VersionInfo, run: NonNullable<typeof running>): boolean | null => {
    if (info.version === run.version) return false;
    const pair = comparable(info.build, run.build);
    return pair ? pair[0].value > pair[1].value : null;
  };
  const isRequired = (info: VersionInfo): boolean => {
    const pair = comparable(running?.build, info.minBuild);
    return info.required || (pair !== null && pair[0].value < pair[1].value);
  };
  const notice = (): VersionChange | null =>
    running && { current: running.version, latest: offer?.version ?? null, required: offer ? isRequired(offer) : false, ...(offer?.build ? { build: offer.build.raw } : {}) };
  const key = (info: VersionInfo | null): string => (info ? `${info.version}\n${info.build?.raw ?? ''}\n${isRequired(info)}` : '');

  return {
    receive(info, from = 'socket') {
      if (!info) return null;
      if (!running) {
        running = { version: info.version, ...(info.build ? { build: info.build } : {}) };
        heard = info;
        return null;
      }
      if (info.version === running.version && !running.build && info.build) running.build = info.build;
      if (heard && !supersedes(info, heard, from)) return null;
      heard = info;
      const newer = isNewer(info, running);
      let next: VersionInfo | null;
      if (newer === true) next = info;
      else if (newer === null) {
        if (info.deploy === undefined && offered.has(info.version)) return null;
        next = info;
      } else if (info.deploy !== undefined) next = null;
      else return null;
      const changed = key(next) !== key(offer);
      offer = next;
      if (!next || !changed) return changed ? notice() : null;
      offered.add(next.version);
      return notice();
    },
    pending: () => (offer ? notice() : null),
    available: () => offer && { version: offer.version, required: isRequired(offer), ...(offer.build ? { build: offer.build.raw } : {}) },
    current: () => running?.version ?? null,
  };
}
