import type { LifecycleEvent, TabEnvironment, TabLocks } from '../../src/environment';

/**
 * Tabs of one "browser" in one test: Web Locks with `ifAvailable` and `steal` (a plain request on a
 * held lock throws: live-updates must never leave one pending), BroadcastChannels that deliver to
 * the other open ends in a later task, and per tab a visibility flag, lifecycle events, and a
 * `freeze` that stops its channel both ways (what it would post is lost; what it would hear waits),
 * as a suspended renderer does.
 */
export function createFakeBrowser() {
  const held = new Map<string, { tab: number; reject: (reason: unknown) => void }>();
  const ends = new Set<{ name: string; tab: number; handlers: Set<(message: unknown) => void> }>();
  const frozen = new Map<number, Array<() => void>>();
  const posted: Array<{ tab: number; message: unknown }> = [];
  let tabs = 0;

  const tab = () => {
    const me = ++tabs;
    let visible = true;
    let emit: ((event: LifecycleEvent) => void) | null = null;
    const locks: TabLocks = {
      request(name, options, callback) {
        return new Promise((resolve, reject) => {
          const current = held.get(name);
          if (current && !options.steal) {
            if (!options.ifAvailable) throw new Error(`tab ${me} left a request for "${name}" pending`);
            Promise.resolve()
              .then(() => callback(null))
              .then(resolve, reject);
            return;
          }
          if (current) {
            held.delete(name);
            current.reject(new DOMException('The lock was stolen', 'AbortError'));
          }
          const entry = { tab: me, reject };
          held.set(name, entry);
          Promise.resolve()
            .then(() => callback({ name }))
            .then(
              (value) => {
                if (held.get(name) === entry) held.delete(name);
                resolve(value);
              },
              (error: unknown) => {
                if (held.get(name) === entry) held.delete(name);
                reject(error);
              },
            );
        });
      },
    };
    const environment: TabEnvironment = {
      locks,
      openChannel(name) {
        const end = { name, tab: me, handlers: new Set<(message: unknown) => void>() };
        ends.add(end);
        return {
          post(message) {
            if (!ends.has(end)) throw new DOMException('closed', 'InvalidStateError');
            if (frozen.has(me)) return;
            const copy = structuredClone(message);
            posted.push({ tab: me, message: copy });
            for (const other of ends) {
              if (other === end || other.name !== name) continue;
              const deliver = (): void => {
                if (ends.has(other)) for (const handler of other.handlers) handler(structuredClone(copy));
              };
              setTimeout(() => (frozen.has(other.tab) ? frozen.get(other.tab)!.push(deliver) : deliver()), 0);
            }
          },
          listen(handler) {
            end.handlers.add(handler);
            return () => end.handlers.delete(handler);
          },
          close: () => void ends.delete(end),
        };
      },
      isVisible: () => visible,
      lifecycle(next) {
        emit = next;
        return () => (emit = null);
      },
    };
    return {
      id: me,
      environment,
      setVisible: (value: boolean) => void (visible = value),
      lifecycle: (event: LifecycleEvent) => emit?.(event),
      /** Its channel goes silent both ways, as a suspended renderer's. */
      freeze: () => void frozen.set(me, []),
      /** Hears what waited. */
      thaw() {
        const waiting = frozen.get(me) ?? [];
        frozen.delete(me);
        waiting.forEach((deliver) => deliver());
      },
      holdsLock: (name: string) => held.get(name)?.tab === me,
      openChannels: () => [...ends].filter((end) => end.tab === me).length,
    };
  };
  /** Sends a message on `name` as if from another tab (a forgery, another build). */
  const inject = (name: string, message: unknown): void => {
    for (const end of ends) if (end.name === name) setTimeout(() => end.handlers.forEach((handler) => handler(message)), 0);
  };
  return { tab, inject, posted, heldBy: (name: string) => held.get(name)?.tab ?? null };
}
