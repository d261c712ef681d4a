// One library subscription per (instance, resource, scope), shared by every component that
// subscribes through a framework adapter, its changes fanned out to each component's latest
// handler. Why not one `live.subscribe` per component: each would run its own `refetch` (the
// library counts subscriptions per room, not loads), so a page listing a resource in ten
// components would load it ten times after every gap.
//
// How the components' `refetch` options combine:
// - a load the library asks for (first live, after a gap, `live.refetch`) runs the `refetch` of
//   every component sharing the subscription, together; the attempt fails if any of them fails,
//   and is retried as a whole;
// - a component that joins once the shared subscription has started loading (it mounted later)
//   still needs its own first load: it gets a subscription of its own for as long as that load
//   takes — same room, so nothing more goes to the server — with the library's deadline, retries
//   and hold-and-release, and then switches over to the shared one;
// - the shared subscription is released a microtask after its last component leaves, so an
//   unmount followed at once by a mount (React StrictMode, a keyed remount) keeps it, and loads
//   nothing twice.
import type { Change, ChangeHandler, LiveUpdates, RefetchContext, RefetchFn, Unsubscribe } from '../index';

/** What one component contributes to a shared subscription. */
export interface Listener {
  /** Called with each change. */
  handler: ChangeHandler;
  /** The component's load, read at each run (so its latest one runs); `undefined`: none. */
  refetch(): RefetchFn | undefined;
}

interface Member {
  listener: Listener;
  /** Its own subscription while its first load runs; changes reach it through that one meanwhile. */
  own: Unsubscribe | null;
}

interface Group {
  /** In join order: the order handlers are called in. */
  members: Set<Member>;
  subscription: Unsubscribe;
  /** The library has asked this subscription for a load: whoever joins from now on loads on their own. */
  started: boolean;
}

// Keyed by instance (a WeakMap, so it goes with the instance): the registry must be the same for
// every component of one instance, whichever way each component got hold of it.
const registries = new WeakMap<LiveUpdates, Map<string, Group>>();

/** Calls each handler in its own try/catch; rethrows the first failure so the library reports it. */
function fanOut(handlers: ChangeHandler[], change: Change): void {
  let failure: { cause: unknown } | null = null;
  for (const handler of handlers) {
    try {
      handler(change);
    } catch (cause) {
      failure ??= { cause };
    }
  }
  if (failure) throw failure.cause;
}

/** Runs every member's load with the library's context; one promise for all of them. */
function loadAll(group: Group, context: RefetchContext): Promise<unknown> | undefined {
  const loads: RefetchFn[] = [];
  for (const member of group.members) {
    const refetch = member.own ? undefined : member.listener.refetch();
    if (refetch) loads.push(refetch);
  }
  if (loads.length === 0) return undefined;
  return Promise.all(loads.map(async (load) => load(context)));
}

/**
 * Adds `listener` to the shared subscription of (resource, scope) on `live`, creating it on first
 * use; returns the idempotent leave function. Throws a TypeError for a bad resource or scope.
 */
export function join(live: LiveUpdates, resource: string, scope: string | undefined, listener: Listener): () => void {
  if (typeof resource !== 'string' || resource === '') throw new TypeError('live-updates: subscribe needs a non-empty resource name.');
  if (scope !== undefined && (typeof scope !== 'string' || scope === '')) throw new TypeError('live-updates: `scope` must be a non-empty string.');
  let groups = registries.get(live);
  if (!groups) registries.set(live, (groups = new Map()));
  const key = JSON.stringify([resource, scope ?? null]);
  const scoped = scope === undefined ? {} : { scope };
  let group = groups.get(key);
  if (!group) {
    const members = new Set<Member>();
    // The library calls neither the handler nor the refetch synchronously: `created` is set by then.
    const created: Group = {
      members,
      started: false,
      subscription: live.subscribe(
        resource,
        (change) => fanOut([...members].filter((member) => !member.own).map((member) => member.listener.handler), change),
        {
          ...scoped,
          refetch(context) {
            created.started = true;
            return loadAll(created, context);
          },
        },
      ),
    };
    groups.set(key, (group = created));
  }
  const shared = group;
  const member: Member = { listener, own: null };
  const refetch = listener.refetch();
  if (shared.started && refetch) {
    const own = live.subscribe(resource, (change) => listener.handler(change), { ...scoped, refetch: (context) => listener.refetch()?.(context) });
    member.own = own;
    // Live and loaded (held changes handed over): from the next change on, the shared one serves it.
    void own.ready.then(() => {
      if (member.own !== own) return;
      member.own = null;
      own();
    });
  }
  shared.members.add(member);
  let joined = true;
  return () => {
    if (!joined) return;
    joined = false;
    shared.members.delete(member);
    member.own?.();
    member.own = null;
    if (shared.members.size > 0) return;
    queueMicrotask(() => {
      if (shared.members.size > 0 || groups.get(key) !== shared) return;
      groups.delete(key);
      shared.subscription();
    });
  };
}
