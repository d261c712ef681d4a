// What a tab has already been handed, when two leader tabs may overlap for a moment (a frozen
// leader thawing after another took over, two steals crossing): a change must reach each tab once.
// - With a log offset (the bridge's change log): handed over only if past the last offset this tab
//   had for its subscription, in the same epoch — the rule replay.ts applies to replays.
// - Without one (plain PUBLISH, emitter libraries, plain servers): nothing orders it, so it is
//   recognised by its content. The same content from another leader term within DEDUP_MS is the
//   same change; from the same leader it is a second change (a publisher may well send one twice).
// Hand-written: the rule is ours.
import type { Clock } from './environment';
import type { Change } from './messages';
import type { Position } from './replay';
import { keyOf } from './subscriptions';

/** Changes without a log offset delivered by two leaders within this time are one change, ms. */
export const DEDUP_MS = 10_000;

/** What one tab was handed. */
export interface TabDedup {
  /** Whether `change`, handed over by the leader of term `term`, is new to this tab (and, if so, remembers it). */
  accept(change: Change, term: number): boolean;
  /** Moves a subscription's position without a change (acknowledged, greeted), unless already further. */
  advance(key: string, position: Position): void;
  /** Where each subscription stands in its change log, as this tab saw it. */
  positions(): ReadonlyMap<string, Position>;
}

/** Creates the memory of one tab. */
export function createTabDedup(clock: Clock): TabDedup {
  const positions = new Map<string, Position>();
  /** Offset-less changes handed over lately, oldest first: content → the term that handed it over, and when. */
  const recent = new Map<string, { term: number; at: number }>();

  const advance = (key: string, position: Position): void => {
    const known = positions.get(key);
    if (!known || known.epoch !== position.epoch || position.offset > known.offset) positions.set(key, position);
  };

  return {
    accept(change, term) {
      if (typeof change.offset === 'number' && typeof change.epoch === 'string') {
        const key = keyOf(change.resource, change.scope ?? undefined);
        const known = positions.get(key);
        if (known && known.epoch === change.epoch && change.offset <= known.offset) return false;
        positions.set(key, { epoch: change.epoch, offset: change.offset });
        return true;
      }
      let content = '';
      try {
        content = JSON.stringify(change);
      } catch {
        return true; // cannot be compared: handed over (at least once)
      }
      const now = clock.now();
      for (const [old, seen] of recent) {
        if (now - seen.at < DEDUP_MS) break;
        recent.delete(old);
      }
      const seen = recent.get(content);
      if (seen && seen.term !== term) return false;
      recent.delete(content);
      recent.set(content, { term, at: now });
      return true;
    },
    advance,
    positions: () => positions,
  };
}
