// live-updates/react with react-dom's createRoot and act, against a real bridge in this process.
import { createElement as h, StrictMode, useState, type ReactNode } from 'react';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Change, LiveUpdates, RefetchContext, StateInfo, VersionChange } from '../src/index';
import { LiveUpdatesProvider, useLiveStatus, useLiveUpdates, useNewVersion, useSubscribe } from '../src/react';
import { countSubscriptions, createCleanups, startClient, startRecordingBridge, tick, until } from './helpers/adapters';

declare global {
  // eslint-disable-next-line no-var
  var IS_REACT_ACT_ENVIRONMENT: boolean | undefined;
}
beforeAll(() => {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
});

const cleanups = createCleanups();
afterEach(async () => {
  await cleanups.run();
});

async function setup() {
  const { bridge, log } = await startRecordingBridge(cleanups);
  const { live, signals, errors: reported, established } = startClient(cleanups, `http://127.0.0.1:${bridge.port}`);
  const client = { live, signals, established, errors: () => reported.map((error) => error.code), connected: () => until(() => live.state === 'connected') };
  const counts = countSubscriptions(client.live);
  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  cleanups.add(() => {
    act(() => root.unmount());
    container.remove();
  });
  const render = (node: ReactNode, strict = false) => {
    const tree = h(LiveUpdatesProvider, { live: client.live }, node);
    return act(() => root.render(strict ? h(StrictMode, null, tree) : tree));
  };
  /** Waits for `predicate` inside act, so that the renders it causes are flushed. */
  const settle = (predicate: () => boolean) => act(() => until(predicate));
  return { bridge, log, ...client, counts, root, container, render, settle };
}

const change = (id: number, title = `book ${id}`) => ({ resource: 'books', action: 'update' as const, id, obj: { id, title } });

/** A component subscribed to 'books' that logs `name:id` per change and `name:reason` per load. */
function recordingBooks() {
  const received: string[] = [];
  const loads: string[] = [];
  const Books = ({ name }: { name: string }) => {
    useSubscribe('books', (change) => received.push(`${name}:${change.id}`), { refetch: ({ reason }) => void loads.push(`${name}:${reason}`) });
    return null;
  };
  return { Books, received, loads };
}

describe('useLiveStatus', () => {
  it('renders each state change, and the snapshot is the same object between changes', async () => {
    const { live, bridge, render, settle, connected, established } = await setup();
    const seen: StateInfo[] = [];
    const Status = () => {
      const status = useLiveStatus();
      seen.push(status);
      return h('p', null, `${status.state}:${status.reason}`);
    };
    await render(h(Status));
    await settle(() => live.state === 'connected');
    await settle(() => seen.at(-1)?.state === 'connected');
    // Stable between changes: reading twice gives the same object, and a re-render reuses it.
    expect(live.status).toBe(live.status);
    const before = seen.length;
    await render(h(Status));
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)).toBe(seen.at(-2));

    established();
    bridge.io.disconnectSockets();
    await settle(() => seen.some((status) => status.state === 'reconnecting'));
    await settle(() => live.state === 'connected');
    await settle(() => seen.at(-1)?.reason === 'reconnected' || seen.at(-1)?.reason === 'replayed');
    const states = seen.map((status) => status.state).filter((state, index, all) => state !== all[index - 1]);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    // One render per distinct snapshot: no render saw a snapshot it had already rendered, except
    // the forced re-render above.
    expect(new Set(seen).size).toBe(seen.length - 1);
  });

  it('throws without a provider', async () => {
    const root = createRoot(document.createElement('div'));
    const Bare = () => h('p', null, useLiveUpdates().state);
    let thrown: unknown = null;
    try {
      await act(async () => root.render(h(Bare)));
    } catch (error) {
      thrown = error;
    }
    act(() => root.unmount());
    expect(thrown).toBeInstanceOf(TypeError);
    expect(String(thrown)).toMatch(/LiveUpdatesProvider/);
  });
});

describe('useNewVersion', () => {
  it('shows the version on offer, also in a component mounted after the announcement, and none once withdrawn', async () => {
    const { live, bridge, render, settle, connected } = await setup();
    const seen: Array<VersionChange | null> = [];
    const Banner = ({ tag }: { tag: string }) => {
      const update = useNewVersion();
      seen.push(update);
      return h('p', { id: tag }, update ? `${update.current}->${update.latest}` : 'none');
    };
    await render(h(Banner, { tag: 'first' }));
    await connected();
    await bridge.publishVersion('v1');
    await settle(() => live.version === 'v1');
    await bridge.publishVersion('v2');
    await settle(() => document.getElementById('first')?.textContent === 'v1->v2');
    const announced = seen.at(-1);
    seen.length = 0;
    // Mounted later: its first render already has the notice (no flash of "none").
    await render(h('div', null, h(Banner, { tag: 'first' }), h(Banner, { tag: 'second' })));
    expect(document.getElementById('second')?.textContent).toBe('v1->v2');
    expect(seen.every((update) => update === announced)).toBe(true);
    await bridge.publishVersion('v2');
    await bridge.publishVersion('v3');
    await settle(() => document.getElementById('second')?.textContent === 'v1->v3');
    // A rollback to the running version (a deploy of v1 again) withdraws the offer: none again.
    await bridge.publishVersion('v1');
    await settle(() => document.getElementById('second')?.textContent === 'none');
    expect(seen.at(-1)).toBeNull();
  });
});

describe('useSubscribe', () => {
  it('shares one library subscription among components, calls the latest handler, and leaves nothing behind', async () => {
    const { live, bridge, log, counts, render, settle, connected } = await setup();
    const received: string[] = [];
    const loads: string[] = [];
    let setSuffix: (value: string) => void = () => {};
    const Books = ({ name, suffix }: { name: string; suffix: string }) => {
      // New handler and refetch functions on every render.
      useSubscribe('books', (change) => received.push(`${name}${suffix}:${change.id}`), { refetch: ({ reason }) => void loads.push(`${name}:${reason}`) });
      return null;
    };
    const App = () => {
      const [suffix, set] = useState('');
      setSuffix = set;
      return h('div', null, h(Books, { name: 'a', suffix }), h(Books, { name: 'b', suffix }), h(Books, { name: 'c', suffix }));
    };
    await render(h(App));
    await connected();
    await settle(() => loads.length === 3);
    expect(counts).toEqual({ made: 1, open: 1 });
    expect(loads).toEqual(['a:subscribed', 'b:subscribed', 'c:subscribed']);

    await bridge.publishChange(change(1));
    await until(() => received.length === 3);
    await act(() => setSuffix('!'));
    await bridge.publishChange(change(2));
    await until(() => received.length === 6);
    expect(received).toEqual(['a:1', 'b:1', 'c:1', 'a!:2', 'b!:2', 'c!:2']);
    expect(counts).toEqual({ made: 1, open: 1 });
    expect(log.handshakes.flat().concat(log.events.filter((event) => event.startsWith('subscribe')))).toEqual(['books']);

    await render(null);
    await tick();
    expect(counts.open).toBe(0);
    await until(() => log.events.includes('unsubscribe books'));
    await bridge.publishChange(change(3));
    await tick(50);
    expect(received).toHaveLength(6);
    expect(live.state).toBe('connected');
  });

  it('under StrictMode subscribes once, loads once, and delivers each change once', async () => {
    const { bridge, log, counts, render, settle, connected } = await setup();
    const { Books, received, loads } = recordingBooks();
    // One component alone: its mount–unmount–mount empties the shared subscription for a moment.
    await render(h('div', null, h(Books, { key: 'a', name: 'a' })), true);
    await connected();
    await settle(() => loads.length >= 1);
    await tick(50);
    expect(loads).toEqual(['a:subscribed']);
    expect(counts).toEqual({ made: 1, open: 1 });
    await bridge.publishChange(change(1));
    await until(() => received.length === 1);
    await render(h('div', null, h(Books, { key: 'a', name: 'a' }), h(Books, { key: 'b', name: 'b' })), true);
    await settle(() => loads.length >= 2);
    await bridge.publishChange(change(2));
    await until(() => received.length === 3);
    await tick(20);
    expect(received).toEqual(['a:1', 'a:2', 'b:2']);
    expect(loads).toEqual(['a:subscribed', 'b:subscribed']);
    expect(counts.open).toBe(1);
    // The server heard of one subscription, once.
    expect([...log.handshakes.flat(), ...log.events]).toEqual(['books']);
    await render(null, true);
    await tick();
    expect(counts.open).toBe(0);
  });

  it('runs every component’s refetch once per gap, in one run, retried as a whole if one fails', async () => {
    const { bridge, counts, render, settle, connected, errors } = await setup();
    const loads: string[] = [];
    let failB = 0;
    const Books = ({ name }: { name: string }) => {
      useSubscribe('books', () => {}, {
        refetch: async ({ reason }) => {
          loads.push(`${name}:${reason}`);
          if (name === 'b' && failB-- > 0) throw new Error('API down');
        },
      });
      return null;
    };
    await render(h('div', null, h(Books, { name: 'a' }), h(Books, { name: 'b' })));
    await connected();
    await settle(() => loads.length === 2);
    failB = 1;
    bridge.resync('test');
    await settle(() => loads.length === 6);
    expect(loads).toEqual(['a:subscribed', 'b:subscribed', 'a:server-resync', 'b:server-resync', 'a:server-resync', 'b:server-resync']);
    expect(errors()).toEqual(['refetch-failed']);
    expect(counts.made).toBe(1);
  });

  it('a component mounted later loads on its own once, without a new subscription on the server, then shares', async () => {
    const { bridge, log, counts, render, settle, connected } = await setup();
    const { Books, received, loads } = recordingBooks();
    await render(h('div', null, h(Books, { key: 'a', name: 'a' })), true);
    await connected();
    await settle(() => loads.length === 1);
    await render(h('div', null, h(Books, { key: 'a', name: 'a' }), h(Books, { key: 'b', name: 'b' })), true);
    await settle(() => loads.length === 2);
    await tick(20);
    expect(loads).toEqual(['a:subscribed', 'b:subscribed']);
    // Its own subscription lasted as long as its load: released since.
    expect(counts.open).toBe(1);
    await bridge.publishChange(change(1));
    await until(() => received.length === 2);
    await tick(20);
    expect(received).toEqual(['a:1', 'b:1']);
    bridge.resync('test');
    await settle(() => loads.length === 4);
    expect(loads.slice(2)).toEqual(['a:server-resync', 'b:server-resync']);
    expect(log.events.filter((event) => event.startsWith('subscribe')).length + log.handshakes.flat().length).toBe(1);
  });

  it('a throwing handler does not starve the other components; the error is reported', async () => {
    const { bridge, render, connected, errors, settle } = await setup();
    const received: string[] = [];
    const Good = () => {
      useSubscribe('books', (c: Change) => received.push(`good:${c.id}`));
      return null;
    };
    const Bad = () => {
      useSubscribe('books', () => {
        throw new Error('broken component');
      });
      return null;
    };
    await render(h('div', null, h(Bad), h(Good)));
    await connected();
    await settle(() => true);
    await tick(50);
    await bridge.publishChange(change(1));
    await until(() => received.length === 1);
    expect(errors()).toEqual(['handler-error']);
  });

  it('resubscribes when the resource or scope changes, and only then', async () => {
    const { counts, render, connected, live } = await setup();
    const Sub = ({ resource, scope }: { resource: string; scope?: string }) => {
      useSubscribe(resource, () => {}, scope === undefined ? {} : { scope });
      return null;
    };
    await render(h(Sub, { resource: 'books' }));
    await connected();
    await render(h(Sub, { resource: 'books' }));
    expect(counts).toEqual({ made: 1, open: 1 });
    await render(h(Sub, { resource: 'authors' }));
    await tick();
    expect(counts).toEqual({ made: 2, open: 1 });
    await render(h(Sub, { resource: 'authors', scope: 'user:1' }));
    await tick();
    expect(counts).toEqual({ made: 3, open: 1 });
    expect(live.state).toBe('connected');
  });

  it('keeps instances apart: two providers, two instances, one subscription each', async () => {
    const first = await setup();
    const other = startClient(cleanups, `http://127.0.0.1:${first.bridge.port}`);
    const otherCounts = countSubscriptions(other.live);
    const Sub = () => {
      useSubscribe('books', () => {});
      return null;
    };
    const Both = ({ live }: { live: LiveUpdates }) => h(LiveUpdatesProvider, { live }, h(Sub));
    await first.render(h('div', null, h(Sub), h(Both, { live: other.live })));
    expect(first.counts).toEqual({ made: 1, open: 1 });
    expect(otherCounts).toEqual({ made: 1, open: 1 });
  });
});
