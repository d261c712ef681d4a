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

/** Creates a router; `onHandlerError` hears about handlers that threw. */
export function createRouter(onHandlerError: (resource: string, cause: unknown) => void): Router {
  const handlers = new Map<string, Set<ChangeHandler>>();
  return {
    add(resource, handler, scope) {
      // Wrap so that subscribing the same function twice yields two independent subscriptions.
      const entry: ChangeHandler = (change) => {
        if (change.scope === scope) handler(change);
      };
      let set = handlers.get(resource);
      if (!set) handlers.set(resource, (set = new Set()));
      set.add(entry);
      return () => {
        const current = handlers.get(resource);
        if (!current?.delete(entry)) return;
        if (current.size === 0) handlers.delete(resource);
      };
    },
    dispatch(change) {
      const set = handlers.get(change.resource);
      if (!set) return;
      // Copy: a handler may unsubscribe itself or others while we iterate.
      for (const handler of [...set]) {
        try {
          handler(change);
        } catch (cause) {
          onHandlerError(change.resource, cause);
        }
      }
    },
    resources: () => [...handlers.keys()],
    clear: () => handlers.clear(),
  };
}
