// The version rule, hand-written because it is ours: the running version is the one the page was
// built with (or the first one seen); each version different from it is announced once, ever.

/** Payload of `onNewVersion`: the version this page runs and the newer one the server announced. */
export interface VersionChange {
  /** The version this page was loaded with. */
  current: string;
  /** The version the server now announces. */
  latest: string;
}

/** Tracks the running version and decides which announcements are news. */
export interface VersionTracker {
  /** Feeds one announced version (`null` = none known); returns the notice to fire, if any. */
  receive(version: string | null): VersionChange | null;
  /** The notice new listeners should hear at once: the latest announced new version, if any. */
  pending(): VersionChange | null;
  /** The running version, once known. */
  current(): string | null;
}

/** Creates a tracker; `initial` is the version the page was built with, if known. */
export function createVersionTracker(initial?: string | null): VersionTracker {
  let running = initial && initial.trim() !== '' ? initial.trim() : null;
  let latest: string | null = null;
  const announced = new Set<string>();
  const notice = (): VersionChange | null => (running !== null && latest !== null && latest !== running ? { current: running, latest } : null);
  return {
    receive(version) {
      if (version === null) return null;
      if (running === null) {
        running = version;
        return null;
      }
      latest = version;
      if (version === running || announced.has(version)) return null;
      announced.add(version);
      return notice();
    },
    pending: notice,
    current: () => running,
  };
}
