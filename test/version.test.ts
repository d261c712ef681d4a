import { describe, expect, it } from 'vitest';
import { parseVersion, type VersionPayload } from '../src/messages';
import { createVersionTracker } from '../src/version';

/** Parses as the wire does, so these tests go through the same shapes the client receives. */
const info = (payload: VersionPayload | null) => {
  const parsed = parseVersion(payload);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};
/** A tracker fed `payloads` in order; returns the notices as `latest` (or `-` for a withdrawal), null for silence. */
function feed(initial: VersionPayload | null, payloads: VersionPayload[]) {
  const tracker = createVersionTracker(info(initial));
  const log = payloads.map((payload) => {
    const notice = tracker.receive(info(payload));
    return notice ? (notice.latest ?? '-') + (notice.required ? '!' : '') : null;
  });
  return { log, tracker };
}

describe('version rule: unordered versions (today’s rule)', () => {
  it('takes the first version seen as running, then fires once per new version', () => {
    const tracker = createVersionTracker();
    const log = ['a', 'a', 'b', 'b', 'c', 'a', 'c', 'b'].map((v) => tracker.receive(info(v)));
    expect(log).toEqual([null, null, { current: 'a', latest: 'b', required: false }, null, { current: 'a', latest: 'c', required: false }, null, null, null]);
    expect(tracker.current()).toBe('a');
  });

  it('starts from the build-time version', () => {
    const tracker = createVersionTracker(info('v1'));
    expect(tracker.receive(info('v1'))).toBeNull();
    expect(tracker.receive(info('v2'))).toEqual({ current: 'v1', latest: 'v2', required: false });
  });

  it('ignores null and blank build versions', () => {
    const tracker = createVersionTracker(info('  '));
    expect(tracker.receive(null)).toBeNull();
    expect(tracker.current()).toBeNull();
    expect(tracker.receive(info('x'))).toBeNull();
    expect(tracker.current()).toBe('x');
  });

  it('keeps the last offer for late listeners: hearing the running version again (an old server, or a rollback it cannot tell apart) changes nothing', () => {
    const tracker = createVersionTracker(info('v1'));
    expect(tracker.pending()).toBeNull();
    tracker.receive(info('v2'));
    expect(tracker.pending()).toEqual({ current: 'v1', latest: 'v2', required: false });
    expect(tracker.receive(info('v1'))).toBeNull();
    expect(tracker.pending()).toEqual({ current: 'v1', latest: 'v2', required: false });
    expect(tracker.available()).toEqual({ version: 'v2', required: false });
  });

  it('two unordered servers alternating: one notice, no flapping', () => {
    expect(feed('a', ['a', 'b', 'a', 'b', 'a', 'b']).log).toEqual([null, 'b', null, null, null, null]);
  });
});

describe('version rule: ordered versions', () => {
  it('newer: announced, with its build', () => {
    const tracker = createVersionTracker(info({ version: 'v1', build: 1 }));
    expect(tracker.receive(info({ version: 'v2', build: 2 }))).toEqual({ current: 'v1', latest: 'v2', required: false, build: 2 });
    expect(tracker.available()).toEqual({ version: 'v2', build: 2, required: false });
  });

  it('older: never a downgrade prompt, with or without a deploy sequence', () => {
    expect(feed({ version: 'v2', build: 2 }, [{ version: 'v1', build: 1 }, { version: 'v1', build: 1, deploy: 7 }]).log).toEqual([null, null]);
    expect(feed({ version: 'B', build: '2025-11-29T10:00:00Z' }, [{ version: 'A', build: '2025-11-28T10:00:00Z' }]).log).toEqual([null]);
  });

  it('equal: the running build (under any name) offers nothing', () => {
    expect(feed({ version: 'v2', build: 2 }, [{ version: 'v2', build: 2 }, { version: 'v2-rebuilt', build: 2 }]).log).toEqual([null, null]);
  });

  it('orders numbers among numbers and times among times; digits are numbers', () => {
    expect(feed({ version: 'v9', build: '9' }, [{ version: 'v10', build: 10 }]).log).toEqual(['v10']);
    expect(feed({ version: 'a', build: '2025-11-29T10:00:00Z' }, [{ version: 'b', build: '2025-11-29T11:00:00+01:00' }, { version: 'c', build: '2025-11-29T10:00:01Z' }]).log).toEqual([null, 'c']);
  });

  it('mixed: a build this page cannot compare with is unordered (offered by name, once); the running build is learnt from its own name', () => {
    // A time against a number, or no build on one side: by name.
    expect(feed({ version: 'v1', build: 1 }, [{ version: 'v2', build: '2025-11-29T10:00:00Z' }, 'v3', { version: 'v2', build: '2025-11-29T10:00:00Z' }]).log).toEqual(['v2', 'v3', null]);
    // A page that only knows its name hears it with a build: from then on, ordered.
    const { log, tracker } = feed('v5', [{ version: 'v5', build: 5 }, { version: 'v4', build: 4 }, { version: 'v6', build: 6 }]);
    expect(log).toEqual([null, null, 'v6']);
    expect(tracker.current()).toBe('v5');
  });

  it('a newer build supersedes the offer each time; an older one (an old server) changes nothing', () => {
    expect(feed({ version: 'v1', build: 1 }, [{ version: 'v2', build: 2 }, { version: 'v3', build: 3 }, { version: 'v2', build: 2 }, { version: 'v3', build: 3 }]).log).toEqual(['v2', 'v3', null, null]);
  });

  it('two servers alternating A and B in a rolling deploy: B pages never prompt, A pages once, pages without a build as their first server says', () => {
    const servers = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? { version: 'A', build: 1 } : { version: 'B', build: 2 }));
    expect(feed({ version: 'A', build: 1 }, servers).log.filter(Boolean)).toEqual(['B']);
    expect(feed({ version: 'B', build: 2 }, servers).log.filter(Boolean)).toEqual([]);
    expect(feed(null, servers).log.filter(Boolean)).toEqual(['B']); // first heard A: runs A
    expect(feed(null, servers.slice(1)).log.filter(Boolean)).toEqual([]); // first heard B: runs B
    const { tracker } = feed({ version: 'A', build: 1 }, servers.concat({ version: 'A', build: 1 }));
    expect(tracker.available()).toEqual({ version: 'B', build: 2, required: false });
  });
});

describe('version rule: rollbacks (announcements with a deploy sequence)', () => {
  const deploys = [
    { version: 'v1', build: 1, deploy: 1 },
    { version: 'v2', build: 2, deploy: 2 },
    { version: 'v3', build: 3, deploy: 3 },
    { version: 'v2', build: 2, deploy: 4 }, // rollback of v3
  ];

  it('an offer that was rolled back is replaced, or withdrawn for pages that run the rolled-back-to build; pages on the bad build get no downgrade', () => {
    expect(feed({ version: 'v1', build: 1 }, deploys).log).toEqual([null, 'v2', 'v3', 'v2']);
    expect(feed({ version: 'v2', build: 2 }, deploys).log).toEqual([null, null, 'v3', '-']);
    expect(feed({ version: 'v3', build: 3 }, deploys).log).toEqual([null, null, null, null]);
    // Name only: the build is learnt from the first announcement of its own name…
    expect(feed('v2', deploys.slice(1)).log).toEqual([null, 'v3', '-']);
    // …and until then an older deploy cannot be told from a newer one: offered by name, then
    // withdrawn once its own deploy says where it stands. Inject the build to avoid that.
    expect(feed('v2', deploys).log).toEqual(['v1', '-', 'v3', '-']);
    // Built with nothing: the first deploy heard is the running one.
    expect(feed(null, deploys.slice(1)).log).toEqual([null, 'v3', '-']);
  });

  it('a withdrawn offer reads null, and a roll-forward offers it again', () => {
    const { log, tracker } = feed({ version: 'v2', build: 2 }, [...deploys, { version: 'v3', build: 3, deploy: 5 }]);
    expect(log).toEqual([null, null, 'v3', '-', 'v3']);
    expect(tracker.available()).toEqual({ version: 'v3', build: 3, required: false });
    tracker.receive(info({ version: 'v2', build: 2, deploy: 6 }));
    expect(tracker.available()).toBeNull();
    expect(tracker.pending()).toBeNull();
  });

  it('a late or repeated message of an earlier deploy changes nothing (no flapping)', () => {
    expect(feed({ version: 'v1', build: 1 }, [...deploys, deploys[2]!, deploys[3]!, deploys[2]!]).log).toEqual([null, 'v2', 'v3', 'v2', null, null, null]);
  });

  it('unordered names with a deploy sequence: each later deploy decides, even one offered before', () => {
    const names = ['a', 'b', 'c', 'b', 'c'].map((version, i) => ({ version, deploy: i + 1 }));
    expect(feed('a', names).log).toEqual([null, 'b', 'c', 'b', 'c']);
  });
});

describe('version rule: a name alone, and what a server says on a new connection', () => {
  it('a name alone from a header or the file never replaces an ordered offer (an old server in a rolling deploy, a stale copy): the offer stays', () => {
    const tracker = createVersionTracker(info({ version: 'a0', build: 99 }));
    expect(tracker.receive(info({ version: 'a6', build: 104, deploy: 10 }))?.latest).toBe('a6');
    expect(tracker.receive(info('a5'), 'hint')).toBeNull();
    expect(tracker.receive(info('a6'), 'hint')).toBeNull();
    expect(tracker.available()).toEqual({ version: 'a6', build: 104, required: false });
  });

  it('the first announcement of a new connection is the word now: a deploy sequence that started over is followed, not ignored', () => {
    const tracker = createVersionTracker(info({ version: 'v1', build: 1 }));
    expect(tracker.receive(info({ version: 'v2', build: 2, deploy: 7 }))?.latest).toBe('v2');
    // The bridge restarted with its sequence from 1 (the embedded bus), still on v1.
    expect(tracker.receive(info({ version: 'v1', build: 1, deploy: 1 }))).toBeNull(); // live: an earlier deploy, ignored
    expect(tracker.receive(info({ version: 'v1', build: 1, deploy: 1 }), 'connect')).toEqual({ current: 'v1', latest: null, required: false });
    expect(tracker.receive(info({ version: 'v3', build: 3, deploy: 2 }))?.latest).toBe('v3'); // the new sequence goes on
    // A classic name-only deploy after ordered ones, relayed by the bridge: by name, as before.
    expect(tracker.receive(info('x9'))?.latest).toBe('x9');
  });
});

describe('version rule: severity', () => {
  it('required: true, or this page below minBuild, makes the notice required; a change of severity alone is a notice', () => {
    expect(feed({ version: 'v1', build: 1 }, [{ version: 'v2', build: 2 }, { version: 'v2', build: 2, required: true }]).log).toEqual(['v2', 'v2!']);
    expect(feed({ version: 'v1', build: 1 }, [{ version: 'v3', build: 3, minBuild: 2 }]).log).toEqual(['v3!']);
    expect(feed({ version: 'v2', build: 2 }, [{ version: 'v3', build: 3, minBuild: 2 }]).log).toEqual(['v3']);
    // Unknown build: minBuild cannot say.
    expect(feed('v1', [{ version: 'v3', build: 3, minBuild: 2 }]).log).toEqual(['v3']);
    const tracker = createVersionTracker(info({ version: 'v1', build: 1 }));
    tracker.receive(info({ version: 'v2', build: 2, required: true }));
    expect(tracker.available()).toEqual({ version: 'v2', build: 2, required: true });
  });
});
