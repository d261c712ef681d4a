// Which tab leads, with Web Locks: the leader is the tab that holds the lock. Hand-written: the
// platform gives the lock, not the rules around it, which come from how browsers treat pages:
// - No standing request. A follower never leaves a request pending (Chrome evicts a page with a
//   pending or contended lock from the back/forward cache: `weblocks-contention`); it asks with
//   `ifAvailable`, which answers at once, whenever it suspects the leader is gone.
// - Release on hide. The leader lets go on `pagehide`/`freeze` (tabs.ts calls `resign()`), so a
//   page in the back/forward cache or frozen holds nothing another tab waits for.
// - Steal from a silent leader. A leader whose renderer is suspended (a frozen tab, a stopped
//   process) keeps its lock; a visible tab takes it with `steal`, and the old leader's request
//   rejects, which is how it learns, once it runs again, that it leads no more. Steals are
//   serialised by a second lock, taken with `ifAvailable` and held a moment after the steal, so two
//   tabs noticing the same silence do not steal from each other in turn.
import type { Clock, TabLocks } from './environment';

/** How long a tab that stole the lock keeps the campaign lock, so that others hear its announcement, in ms. */
export const CAMPAIGN_HOLD_MS = 300;

/** Options of {@link createElection}. */
export interface ElectionOptions {
  locks: TabLocks;
  /** The lock's name (one per app and server). */
  name: string;
  clock: Clock;
  /** This tab holds the lock now. */
  onLead(): void;
  /** This tab held the lock and lost it without resigning: another tab stole it. */
  onDeposed(): void;
}

/** The election of one tab. */
export interface Election {
  /**
   * Takes the lock if it is free, or, with `steal`, from a holder that went silent, unless
   * `stillWanted()` says otherwise by then (a leader was heard meanwhile). Resolves true when this
   * tab leads. Never rejects; never leaves a request pending.
   */
  campaign(steal: boolean, stillWanted: () => boolean): Promise<boolean>;
  /** Whether this tab holds the lock. */
  isLeader(): boolean;
  /** Lets go of the lock (idempotent). */
  resign(): void;
}

/** Creates the election of one tab. */
export function createElection(options: ElectionOptions): Election {
  const { locks, name, clock } = options;
  let release: (() => void) | null = null;
  let campaigning = false;

  /** One request for the lock: free only, or stolen. Resolves whether it was granted. */
  const take = (steal: boolean): Promise<boolean> =>
    new Promise<boolean>((granted) => {
      let mine = false;
      locks
        .request(name, steal ? { steal: true } : { ifAvailable: true }, (lock) => {
          if (lock === null) return granted(false);
          mine = true;
          const held = new Promise<void>((resolve) => (release = resolve));
          granted(true);
          options.onLead();
          return held;
        })
        .catch(() => {
          // Stolen (AbortError) or refused: this request leads no more.
          granted(false);
          if (mine && release) {
            release = null;
            options.onDeposed();
          }
        });
    });

  return {
    async campaign(steal, stillWanted) {
      if (release || campaigning) return release !== null;
      campaigning = true;
      try {
        if (!steal) return stillWanted() && (await take(false));
        let won = false;
        await locks
          .request(`${name}:campaign`, { ifAvailable: true }, async (lock) => {
            if (lock === null || !stillWanted()) return;
            won = await take(true);
            if (won) await new Promise<void>((resolve) => clock.setTimeout(resolve, CAMPAIGN_HOLD_MS));
          })
          .catch(() => {});
        return won;
      } finally {
        campaigning = false;
      }
    },
    isLeader: () => release !== null,
    resign() {
      const done = release;
      release = null;
      done?.();
    },
  };
}
