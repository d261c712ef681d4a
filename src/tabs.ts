// One connection for all tabs of an app (`shareTabs: true`). The leader tab (tab-election.ts: the
// holder of a Web Lock) alone opens the socket and subscribes for the union of every tab's
// subscriptions; every tab, the leader's own included, is fed over a BroadcastChannel: changes,
// state, liveness, gaps, refusals, refetch slots, versions and log positions. Each tab keeps what
// is its own — subscribers, refetches, the version rule against its own build — so from the
// instance's side (index.ts) this is just another `Link`. Hand-written: no library shares a
// socket.io connection across tabs.
//
// In order:
// - join: ask who leads (`who`), post this tab's list (`wants`), take the lock if it is free.
// - lead: announce a term one above any heard, gather the tabs' lists for GATHER_MS, open the
//   socket with positions this tab saw on the channel, beat every HEARTBEAT_MS.
// - follow: accept messages of the newest leader only (highest term; of two with one term, the
//   higher tab id), deduplicate changes (tab-dedup.ts: by log offset; without one, by content
//   across leaders).
// - lose the leader: it resigned (pagehide, freeze, close), or fell silent SUSPECT_MS (is the lock
//   free? take it) or SILENT_MS (a visible tab steals it). Every tab then owes its subscriptions a
//   reload ('hand-over'), paid when the new leader's gap says what the log replayed, or at once
//   for a tab that rejoins a settled leader (restored from the back/forward cache, resumed).
// - private: scoped subscriptions never travel between tabs: each tab opens its own connection
//   for them, with its own credentials, so the leader never widens what a tab asked for.
import type { StateInfo } from './connection';
import type { Clock, LifecycleEvent, Signal, TabEnvironment, TabChannel, TimerHandle } from './environment';
import { createError, describe } from './errors';
import type { Link, LinkHooks } from './link';
import { parseChange, parseTabMessage, type Change, type LeaderMessage, type Subscription, type TabMessage } from './messages';
import type { Position } from './replay';
import { keyOf } from './subscriptions';
import { createTabDedup } from './tab-dedup';
import { createElection } from './tab-election';

// ---- Policy knobs ----------------------------------------------------------------------------
/** The leader's heartbeat, ms. */
export const HEARTBEAT_MS = 1000;
/** How often a follower checks on the leader, ms. */
export const WATCH_MS = 250;
/** No word from the leader this long: a follower asks whether the lock is free (the leader closed without a word), ms. */
export const SUSPECT_MS = 1250;
/** No word this long: the leader is frozen or stopped; a visible follower steals the lock (after a random share of STEAL_JITTER_MS), ms. */
export const SILENT_MS = 2500;
/** Upper bound of the random wait added to SILENT_MS before a steal, so that followers do not all try at once, ms. */
export const STEAL_JITTER_MS = 500;
/** A new leader waits this long for the other tabs' lists, so its first handshake carries them all (and replays them), ms. */
export const GATHER_MS = 100;

/** What a shared link needs from the instance. */
export interface SharedLinkOptions {
  /** Web Locks, BroadcastChannel, visibility and lifecycle (environment.ts, injectable). */
  tabs: TabEnvironment;
  /** Lock and channel name: one per app and server. */
  name: string;
  /** Timers for the heartbeat, the watch and the gathering wait. */
  clock: Clock;
  /** Opens a connection of this tab's own (as leader, and for its scoped subscriptions). */
  open(hooks: LinkHooks, extra: { positions?: ReadonlyMap<string, Position>; handOver?: boolean }): Link;
  /** Source of randomness in [0, 1). */
  random?: () => number;
}

/** The part of the instance's hooks a shared link needs: a link's, with gaps and losses limited to some keys. */
export interface SharedLinkHooks extends Omit<LinkHooks, 'lost' | 'gap' | 'position'> {
  lost(only: (key: string) => boolean): void;
  gap(reason: Parameters<LinkHooks['gap']>[0], covered: ReadonlySet<string>, only: (key: string) => boolean): number;
}

const NONE: ReadonlySet<string> = new Set();

/** Joins the tabs of this app on `options.name`; returns this tab's link. */
export function createSharedLink(options: SharedLinkOptions, hooks: SharedLinkHooks): Link {
  const { clock, tabs } = options;
  const random = options.random ?? Math.random;
  const id = `${clock.now().toString(36)}-${random().toString(36).slice(2, 10)}`;
  // Closed while the page is hidden: Chrome evicts a page in the back/forward cache that a
  // BroadcastChannel message reaches (`broadcastchannel-message`).
  let channel: TabChannel = tabs.openChannel(options.name);

  let closed = false;
  let hidden = false;
  /** The highest leader term heard (or this tab's own while it leads), and that leader. */
  let term = 0;
  let leader: string | null = null;
  let lastHeard = clock.now();
  let stealAfter = SILENT_MS + random() * STEAL_JITTER_MS;
  let info: StateInfo = { state: 'connecting', reason: 'start', since: clock.now() };
  let lastVersion: { payload: unknown; source: string; origin: 'socket' | 'connect' } | null = null;
  /** Shared keys live now, as the leader says. */
  const live = new Set<string>();
  /** This tab's shared subscriptions, counted. */
  const own = new Map<string, { subscription: Subscription; count: number }>();
  /** What this tab was handed, and where each key stands in its change log, as seen on the channel. */
  const dedup = createTabDedup(clock);
  /** Keys that owe a reload after losing the leader; paid once `armed` (the new leader's gap said what the log covered). */
  let owed: Set<string> | null = null;
  let armed = false;

  // Leader side.
  let link: Link | null = null;
  const wants = new Map<string, Map<string, Subscription>>();
  const held = new Map<string, () => void>();
  let sentLive = '';

  // Scoped subscriptions: this tab's own connection.
  let privateLink: Link | null = null;
  const privateKeys = new Map<string, number>();
  const isPrivate = (key: string): boolean => privateKeys.has(key);
  const isShared = (key: string): boolean => !privateKeys.has(key);

  const post = (message: TabMessage): void => {
    if (closed || hidden) return;
    try {
      channel.post(message);
    } catch (cause) {
      // A payload the channel cannot clone (a publisher's odd `obj`): the other tabs miss it; say so.
      hooks.report(createError('invalid-message', `could not pass a "${message.t}" message to the other tabs: ${describe(cause)}`, { cause }));
    }
  };
  const setInfo = (next: StateInfo): void => {
    info = next;
    hooks.state(info);
  };

  // ---- follow ----------------------------------------------------------------------------------
  /** This tab's feed from the shared connection broke: nothing is live, every subscription owes a reload. */
  const markLoss = (): void => {
    owed = new Set([...(owed ?? []), ...own.keys()]);
    armed = false;
    live.clear();
    hooks.lost(isShared);
    if (info.state !== 'closed') setInfo({ state: info.state === 'connecting' ? 'connecting' : 'reconnecting', reason: 'hand-over', since: clock.now() });
  };
  /** Pays owed reloads of keys that are live now (only `key`, when given). */
  const pay = (key?: string): void => {
    if (!owed || !armed) return;
    const due = [...owed].filter((owing) => live.has(owing) && (key === undefined || owing === key));
    if (due.length === 0) return;
    for (const owing of due) owed.delete(owing);
    hooks.gap('hand-over', NONE, (other) => due.includes(other));
    if (owed.size === 0) owed = null;
  };
  const arm = (): void => {
    if (!owed || armed) return;
    armed = true;
    pay();
  };
  const applyLive = (keys: readonly string[]): void => {
    const next = new Set(keys);
    for (const key of [...live]) {
      if (next.has(key)) continue;
      live.delete(key);
      hooks.unlive(key);
    }
    for (const key of next) {
      if (live.has(key) || isPrivate(key)) continue;
      live.add(key);
      hooks.live(key);
      pay(key);
    }
  };
  /** Hands a change on once: by its log offset, or, without one, not again from another leader. */
  const deliver = (change: Change, from: number): void => {
    // Scoped changes travel on each tab's own connection only (a plain server broadcasts them).
    if (change.scope !== undefined && change.scope !== null) return;
    if (dedup.accept(change, from)) hooks.change(change);
  };

  /** Whether a leader's message is the current leader's; a newer leader is taken on here. */
  const accept = (message: LeaderMessage): boolean => {
    if (message.from === id) return election.isLeader() && message.term === term;
    if (message.term < term) return false;
    if (message.term === term && leader !== null && message.from !== leader && message.from < leader) return false;
    if (message.term > term || message.from !== leader) {
      const hadLeader = leader !== null || election.isLeader();
      if (election.isLeader()) stepDown(false);
      term = message.term;
      leader = message.from;
      if (hadLeader || owed) markLoss();
      postWants();
    }
    lastHeard = clock.now();
    stealAfter = SILENT_MS + random() * STEAL_JITTER_MS;
    return true;
  };

  /** Acts on a leader's message (another tab's, or this tab's own while it leads). Returns a gap's reloads. */
  const follow = (message: LeaderMessage): number => {
    if (!accept(message)) return 0;
    switch (message.t) {
      case 'lead':
      case 'beat':
        if (message.info.state !== info.state || message.info.reason !== info.reason || message.info.since !== info.since) setInfo(message.info);
        if (message.t === 'lead') applyLive(message.live);
        if (!message.settling && message.info.state === 'connected') arm();
        return 0;
      case 'resign':
        // The lock is free (or about to be): ask for it at once; steal only if it stays held.
        leader = null;
        lastHeard = clock.now() - SUSPECT_MS;
        markLoss();
        watch();
        return 0;
      case 'change': {
        const parsed = parseChange(message.change);
        if (parsed.ok) deliver(parsed.value, message.term);
        else hooks.report(createError('invalid-message', `dropped a malformed change from the leader tab: ${parsed.reason}`, { cause: parsed.cause }));
        return 0;
      }
      case 'state':
        setInfo(message.info);
        return 0;
      case 'live':
        applyLive(message.live);
        return 0;
      case 'lost':
        live.clear();
        hooks.lost(isShared);
        return 0;
      case 'gap': {
        const covered = new Set(message.covered);
        const reloads = hooks.gap(message.reason, covered, isShared);
        if (owed) for (const key of [...owed]) if (live.has(key) || covered.has(key)) owed.delete(key);
        if (owed?.size === 0) owed = null;
        armed = true;
        return reloads;
      }
      case 'recovered':
        hooks.recovered();
        return 0;
      case 'slot':
        hooks.slot(message.delayMs);
        return 0;
      case 'version':
        hooks.version(message.payload, message.source, message.origin);
        return 0;
      case 'refused':
        if (own.has(keyOf(message.refusal.resource, message.refusal.scope))) hooks.refused(message.refusal, message.retryInMs);
        return 0;
      case 'pos':
        dedup.advance(message.key, { epoch: message.epoch, offset: message.offset });
        return 0;
    }
  };

  // ---- lead ------------------------------------------------------------------------------------
  /** The leader's word: to the other tabs, and to this tab the same way. */
  const send = (message: LeaderMessage): number => {
    post(message);
    return follow(message);
  };
  const union = (): Map<string, Subscription> => {
    const all = new Map<string, Subscription>();
    for (const list of wants.values()) for (const [key, subscription] of list) all.set(key, subscription);
    return all;
  };
  const publishLive = (): void => {
    if (!link) return;
    const current = link;
    const keys = [...held.keys()].filter((key) => current.isLive(key)).sort();
    const text = JSON.stringify(keys);
    if (text === sentLive) return;
    sentLive = text;
    send({ t: 'live', from: id, term, live: keys });
  };
  /** Subscribes the leader's connection to the union of the tabs' lists, no more. */
  const sync = (): void => {
    if (!link) return;
    const all = union();
    for (const [key, release] of [...held]) {
      if (all.has(key)) continue;
      held.delete(key);
      release();
    }
    for (const [key, subscription] of all) if (!held.has(key)) held.set(key, link.add(subscription.resource, subscription.scope).release);
    publishLive();
  };
  const snapshot = (): LeaderMessage => ({ t: 'lead', from: id, term, info, live: JSON.parse(sentLive || '[]') as string[], settling: !link || link.settling() });

  const leaderHooks = (): LinkHooks => {
    const active = (): boolean => link !== null && election.isLeader();
    return {
      change: (change) => active() && void send({ t: 'change', from: id, term, change }),
      state: (next) => active() && void send({ t: 'state', from: id, term, info: next }),
      version(payload, source, origin) {
        if (!active()) return;
        lastVersion = { payload, source, origin };
        send({ t: 'version', from: id, term, payload, source, origin });
      },
      live: () => active() && publishLive(),
      unlive: () => active() && publishLive(),
      lost() {
        if (!active()) return;
        sentLive = '[]';
        send({ t: 'lost', from: id, term });
      },
      gap: (reason, covered) => (active() ? send({ t: 'gap', from: id, term, reason, covered: [...covered] }) : 0),
      recovered: () => active() && void send({ t: 'recovered', from: id, term }),
      refused: (refusal, retryInMs) => active() && void send({ t: 'refused', from: id, term, refusal, retryInMs }),
      slot: (delayMs) => active() && void send({ t: 'slot', from: id, term, delayMs }),
      position: (key, position) => active() && void send({ t: 'pos', from: id, term, key, ...position }),
      report: (error) => hooks.report(error),
    };
  };

  const becomeLeader = (): void => {
    if (closed || hidden) return election.resign();
    const handOver = leader !== null || owed !== null || term > 0;
    if (leader !== null) markLoss();
    term += 1;
    leader = id;
    wants.clear();
    wants.set(id, new Map([...own].map(([key, entry]) => [key, entry.subscription])));
    sentLive = '';
    post(snapshot());
    schedule(HEARTBEAT_MS);
    clock.setTimeout(() => {
      if (!election.isLeader() || leader !== id || link) return;
      const keys = union();
      const seed = new Map([...dedup.positions()].filter(([key]) => keys.has(key)));
      link = options.open(leaderHooks(), { positions: seed, handOver });
      sync();
    }, GATHER_MS);
  };
  /** Stops leading: closes the connection and lets go of the lock; `announce` tells the other tabs. */
  const stepDown = (announce: boolean): void => {
    const wasLeading = election.isLeader() || link !== null;
    const current = link;
    link = null;
    held.clear();
    wants.clear();
    sentLive = '';
    current?.close();
    election.resign();
    if (wasLeading && announce) post({ t: 'resign', from: id, term });
    if (leader === id) leader = null;
  };

  const election = createElection({
    locks: tabs.locks,
    name: options.name,
    clock,
    onLead: becomeLeader,
    onDeposed() {
      stepDown(false);
      // Another tab took the lock: it leads. Hear it out before suspecting it (this tab may have
      // been the silent one, its timers about to fire late).
      lastHeard = clock.now();
      markLoss();
      post({ t: 'who', from: id });
    },
  });

  // ---- watch -----------------------------------------------------------------------------------
  let timer: TimerHandle | null = null;
  const schedule = (ms: number): void => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = closed || hidden ? null : clock.setTimeout(tick, ms);
  };
  /** A follower's check on the leader: is the lock free, or has the leader been silent long enough to steal it? */
  const watch = (): void => {
    if (closed || hidden || election.isLeader()) return;
    const silence = clock.now() - lastHeard;
    if (leader !== null && silence < SUSPECT_MS) return;
    const stillWanted = (): boolean => !closed && !hidden && (leader === null || clock.now() - lastHeard >= SUSPECT_MS);
    if (silence >= stealAfter && tabs.isVisible()) {
      if (leader !== null) {
        leader = null;
        markLoss();
      }
      void election.campaign(true, () => stillWanted() && clock.now() - lastHeard >= SILENT_MS);
    } else void election.campaign(false, stillWanted);
  };
  const tick = (): void => {
    timer = null;
    if (election.isLeader() && link !== null) post({ t: 'beat', from: id, term, info, settling: link.settling() });
    else if (election.isLeader()) post({ t: 'beat', from: id, term, info, settling: true });
    else watch();
    schedule(election.isLeader() ? HEARTBEAT_MS : WATCH_MS);
  };

  let wantsQueued = false;
  const postWants = (): void => post({ t: 'wants', from: id, subs: [...own.values()].map((entry) => entry.subscription) });
  /** This tab's list changed: tell the leader once per task (a page mounting many components). */
  const wantsChanged = (): void => {
    if (wantsQueued) return;
    wantsQueued = true;
    queueMicrotask(() => {
      wantsQueued = false;
      if (closed) return;
      if (election.isLeader()) {
        wants.set(id, new Map([...own].map(([key, entry]) => [key, entry.subscription])));
        sync();
      } else postWants();
    });
  };

  const onMessage = (payload: unknown): void => {
    if (closed || hidden) return;
    const parsed = parseTabMessage(payload);
    if (!parsed.ok) return hooks.report(createError('invalid-message', `dropped a malformed message from another tab: ${parsed.reason}`, { cause: parsed.cause }));
    const message = parsed.value;
    if (message.from === id) return;
    if (message.t === 'who') {
      if (!election.isLeader()) return;
      post(snapshot());
      if (lastVersion) post({ t: 'version', from: id, term, ...lastVersion });
    } else if (message.t === 'wants' || message.t === 'bye') {
      if (!election.isLeader()) return;
      if (message.t === 'bye') wants.delete(message.from);
      else wants.set(message.from, new Map(message.subs.filter((subscription) => subscription.scope === undefined).map((subscription) => [keyOf(subscription.resource, undefined), subscription])));
      sync();
    } else follow(message);
  };
  let stopListening = channel.listen(onMessage);

  /** Leaves for the back/forward cache or a freeze: nothing held, nothing pending. */
  const leave = (): void => {
    if (hidden) return;
    stepDown(true);
    post({ t: 'bye', from: id });
    hidden = true;
    schedule(0);
    stopListening();
    channel.close();
  };
  /** Back from the back/forward cache or a freeze: what happened meanwhile is this tab's own gap. */
  const rejoin = (): void => {
    hidden = false;
    channel = tabs.openChannel(options.name);
    stopListening = channel.listen(onMessage);
    leader = null;
    lastHeard = clock.now();
    markLoss();
    post({ t: 'who', from: id });
    postWants();
    void election.campaign(false, () => leader === null);
    schedule(WATCH_MS);
  };
  const stopLifecycle = tabs.lifecycle((event: LifecycleEvent) => {
    if (closed) return;
    if (event === 'hide' || event === 'freeze') leave();
    else if (hidden) rejoin();
  });

  post({ t: 'who', from: id });
  void election.campaign(false, () => leader === null);
  schedule(WATCH_MS);

  const privateHooks: LinkHooks = {
    change: (change) => hooks.change(change),
    state: () => {},
    version: (payload, source, origin) => hooks.version(payload, source, origin),
    live: (key) => hooks.live(key),
    unlive: (key) => hooks.unlive(key),
    lost: () => hooks.lost(isPrivate),
    gap: (reason, covered) => hooks.gap(reason, covered, isPrivate),
    recovered: () => hooks.recovered(),
    refused: (refusal, retryInMs) => hooks.refused(refusal, retryInMs),
    slot: (delayMs) => hooks.slot(delayMs),
    position: () => {},
    report: (error) => hooks.report(error),
  };

  return {
    add(resource, scope) {
      const key = keyOf(resource, scope);
      if (scope !== undefined) {
        privateKeys.set(key, (privateKeys.get(key) ?? 0) + 1);
        privateLink ??= options.open(privateHooks, {});
        const subscription = privateLink.add(resource, scope);
        let released = false;
        return {
          key,
          release() {
            if (released) return;
            released = true;
            subscription.release();
            const left = (privateKeys.get(key) ?? 1) - 1;
            if (left > 0) privateKeys.set(key, left);
            else privateKeys.delete(key);
            // A microtask later: an unsubscribe followed at once by a subscribe keeps the connection.
            queueMicrotask(() => {
              if (privateKeys.size > 0 || !privateLink) return;
              privateLink.close();
              privateLink = null;
            });
          },
        };
      }
      let entry = own.get(key);
      if (!entry) {
        entry = { subscription: { resource }, count: 0 };
        own.set(key, entry);
        wantsChanged();
      }
      entry.count++;
      let released = false;
      return {
        key,
        release() {
          if (released) return;
          released = true;
          const current = own.get(key);
          if (!current || --current.count > 0) return;
          own.delete(key);
          owed?.delete(key);
          wantsChanged();
        },
      };
    },
    isLive: (key) => (isPrivate(key) ? (privateLink?.isLive(key) ?? false) : live.has(key)),
    info: () => info,
    settling: () => false,
    signal(signal: Signal) {
      privateLink?.signal(signal);
      if (link) link.signal(signal);
      else if (signal !== 'offline' && signal !== 'load-error' && signal !== 'network-change') watch();
    },
    close() {
      if (closed) return;
      stepDown(true);
      post({ t: 'bye', from: id });
      closed = true;
      schedule(0);
      stopLifecycle();
      if (!hidden) {
        stopListening();
        channel.close();
      }
      privateLink?.close();
      privateLink = null;
      setInfo({ state: 'closed', reason: 'closed', since: clock.now() });
    },
  };
}
