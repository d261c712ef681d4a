import { describe, expect, it } from 'vitest';
import { createVersionTracker } from '../src/version';

describe('version rule', () => {
  it('takes the first version seen as running, then fires once per new version', () => {
    const tracker = createVersionTracker();
    const log = ['a', 'a', 'b', 'b', 'c', 'a', 'c', 'b'].map((v) => tracker.receive(v));
    expect(log).toEqual([null, null, { current: 'a', latest: 'b' }, null, { current: 'a', latest: 'c' }, null, null, null]);
    expect(tracker.current()).toBe('a');
  });

  it('starts from the build-time version', () => {
    const tracker = createVersionTracker('v1');
    expect(tracker.receive('v1')).toBeNull();
    expect(tracker.receive('v2')).toEqual({ current: 'v1', latest: 'v2' });
  });

  it('ignores null and blank build versions', () => {
    const tracker = createVersionTracker('  ');
    expect(tracker.receive(null)).toBeNull();
    expect(tracker.current()).toBeNull();
    expect(tracker.receive('x')).toBeNull();
    expect(tracker.current()).toBe('x');
  });

  it('keeps the latest new version pending for late listeners, cleared by a rollback', () => {
    const tracker = createVersionTracker('v1');
    expect(tracker.pending()).toBeNull();
    tracker.receive('v2');
    expect(tracker.pending()).toEqual({ current: 'v1', latest: 'v2' });
    tracker.receive('v1');
    expect(tracker.pending()).toBeNull();
  });
});
