// Routes validated changes to the subscribers of their resource. A Map keyed by resource name,
// so `__proto__` or `constructor` are ordinary keys and pollute nothing.
import type { Change } from './messages';

/** Receives one change of a subscribed resource. */
export type ChangeHandler = (change: Change) => void;

/** The router of one live-updates instance. */
export interface Router {
  /**
   * Adds a handler for `resource`, for changes of `scope` only when given (unscoped changes
   * otherwise); returns its idempotent unsubscribe.
   */
  add(resource: string, handler: ChangeHandler, scope?: string): () => void;
  /** Calls every handler of `change.resource` and `change.scope` in subscription order, each isolated from the others. */
  dispatch(change: Change): void;
  /** Resource names with at least one handler. */
  resources(): string[];
  /** Removes every handler. */
  clear(): void;
}

interface Entry {
  handler: ChangeHandler;
  scope: string | undefined;
  active: boolean;
}

/** Creates a router; `onHandlerError` hears about handlers that threw. */
export function createRouter(onHandlerError: (resource: string, cause: unknown) => void): Router {
  // Copy-on-write lists: dispatch walks the list as it was when the change arrived, without
  // copying it per change; add and remove (rare) replace the list instead.
  const handlers = new Map<string, readonly Entry[]>();
  return {
    add(resource, handler, scope) {
      // A fresh entry, so subscribing the same function twice yields two independent subscriptions.
      const entry: Entry = { handler, scope, active: true };
      handlers.set(resource, [...(handlers.get(resource) ?? []), entry]);
      return () => {
        if (!entry.active) return;
        entry.active = false;
        const rest = (handlers.get(resource) ?? []).filter((other) => other !== entry);
        if (rest.length > 0) handlers.set(resource, rest);
        else handlers.delete(resource);
      };
    },
    dispatch(change) {
      const list = handlers.get(change.resource);
      if (!list) return;
      for (const entry of list) {
        // `active`: a handler removed by an earlier one during this dispatch is not called.
        if (!entry.active || entry.scope !== (change.scope ?? undefined)) continue;
        try {
          entry.handler(change);
        } catch (cause) {
          onHandlerError(change.resource, cause);
        }
      }
    },
    resources: () => [...handlers.keys()],
    clear() {
      // Inactive too, so that a close() from inside a handler stops the rest of that dispatch.
      for (const list of handlers.values()) for (const entry of list) entry.active = false;
      handlers.clear();
    },
  };
}
