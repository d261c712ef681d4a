// live-updates/vue with createApp and effectScope, against a real bridge in this process.
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, defineComponent, effectScope, h, nextTick, ref, type App, type Component } from 'vue';
import type { LiveUpdates, StateInfo } from '../src/index';
import { liveUpdatesPlugin, useLiveStatus, useLiveUpdates, useNewVersion, useSubscribe } from '../src/vue';
import { countSubscriptions, createCleanups, startClient, startRecordingBridge, tick, until } from './helpers/adapters';

const cleanups = createCleanups();
afterEach(async () => {
  await cleanups.run();
});

/** Counts the listeners `live.onStateChange` and `live.onNewVersion` hold for the app. */
function countListeners(live: LiveUpdates) {
  const open = { state: 0, version: 0 };
  for (const [method, key] of [['onStateChange', 'state'], ['onNewVersion', 'version']] as const) {
    const original = live[method].bind(live) as (listener: never) => () => void;
    live[method] = ((listener: never) => {
      const off = original(listener);
      open[key]++;
      let on = true;
      return () => {
        if (on) open[key]--;
        on = false;
        off();
      };
    }) as never;
  }
  return open;
}

async function setup() {
  const { bridge, log } = await startRecordingBridge(cleanups);
  const { live, signals, errors: reported, established } = startClient(cleanups, `http://127.0.0.1:${bridge.port}`);
  const client = { live, signals, established, errors: () => reported.map((error) => error.code), connected: () => until(() => live.state === 'connected') };
  const counts = countSubscriptions(client.live);
  const listeners = countListeners(client.live);
  const mount = (root: Component): App => {
    const container = document.createElement('div');
    document.body.append(container);
    const app = createApp(root).use(liveUpdatesPlugin, client.live);
    app.mount(container);
    cleanups.add(() => {
      app.unmount();
      container.remove();
    });
    return app;
  };
  return { bridge, log, ...client, counts, listeners, mount };
}

const change = (id: number) => ({ resource: 'books', action: 'update' as const, id, obj: { id } });

describe('live-updates/vue', () => {
  it('useLiveStatus and useNewVersion follow the instance and stop listening with the component', async () => {
    const { live, bridge, listeners, mount, connected, established } = await setup();
    const states: string[] = [];
    const show = ref(true);
    const Status = defineComponent(() => {
      const status = useLiveStatus();
      const update = useNewVersion();
      return () => {
        states.push(status.value.state);
        return h('p', { id: 'status' }, `${status.value.state} ${update.value ? update.value.latest : 'none'}`);
      };
    });
    mount(defineComponent(() => () => (show.value ? h(Status) : null)));
    expect(document.getElementById('status')?.textContent).toBe('connecting none');
    await connected();
    await bridge.publishVersion('v1');
    await until(() => live.version === 'v1');
    await bridge.publishVersion('v2');
    await until(() => document.getElementById('status')?.textContent === 'connected v2');
    established();
    bridge.io.disconnectSockets();
    await until(() => states.includes('reconnecting'));
    await connected();
    await until(() => states.at(-1) === 'connected');
    expect(states.filter((state, index, all) => state !== all[index - 1])).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(listeners).toEqual({ state: 1, version: 1 });
    show.value = false;
    await nextTick();
    expect(listeners).toEqual({ state: 0, version: 0 });
    // Set up again after the announcement: the notice is there from the first render.
    show.value = true;
    await nextTick();
    expect(document.getElementById('status')?.textContent).toBe('connected v2');
    // A rollback to the running version withdraws the offer: none again.
    await bridge.publishVersion('v1');
    await until(() => document.getElementById('status')?.textContent === 'connected none');
  });

  it('useSubscribe shares one library subscription among components and releases it with the last', async () => {
    const { bridge, log, counts, mount, connected } = await setup();
    const received: string[] = [];
    const loads: string[] = [];
    const shown = ref(['a', 'b', 'c']);
    const Books = defineComponent({
      props: { name: { type: String, required: true } },
      setup(props) {
        useSubscribe('books', (change) => received.push(`${props.name}:${change.id}`), { refetch: ({ reason }) => void loads.push(`${props.name}:${reason}`) });
        return () => null;
      },
    });
    mount(defineComponent(() => () => h('div', shown.value.map((name) => h(Books, { key: name, name })))));
    await connected();
    await until(() => loads.length === 3);
    expect(loads).toEqual(['a:subscribed', 'b:subscribed', 'c:subscribed']);
    expect(counts).toEqual({ made: 1, open: 1 });
    await bridge.publishChange(change(1));
    await until(() => received.length === 3);
    expect(received).toEqual(['a:1', 'b:1', 'c:1']);

    shown.value = ['a'];
    await nextTick();
    await bridge.publishChange(change(2));
    await until(() => received.length === 4);
    expect(received.at(-1)).toBe('a:2');
    expect(counts.open).toBe(1);

    shown.value = [];
    await nextTick();
    await tick();
    expect(counts.open).toBe(0);
    await until(() => log.events.includes('unsubscribe books'));
    expect([...log.handshakes.flat(), ...log.events]).toEqual(['books', 'unsubscribe books']);
  });

  it('useSubscribe in an effectScope: a reactive resource resubscribes, stop() releases', async () => {
    const { live, counts, mount, connected, bridge } = await setup();
    const app = mount(defineComponent(() => () => null));
    await connected();
    const resource = ref('books');
    const received: string[] = [];
    const scope = effectScope();
    app.runWithContext(() => scope.run(() => useSubscribe(resource, (c) => received.push(`${c.resource}:${c.id}`))));
    expect(counts).toEqual({ made: 1, open: 1 });
    resource.value = 'authors';
    await nextTick();
    await tick();
    expect(counts).toEqual({ made: 2, open: 1 });
    await tick(50);
    await bridge.publishChange(change(1));
    await bridge.publishChange({ resource: 'authors', action: 'create', id: 2, obj: {} });
    await until(() => received.length === 1);
    expect(received).toEqual(['authors:2']);
    scope.stop();
    await tick();
    expect(counts.open).toBe(0);
    expect(live.state).toBe('connected');
  });

  it('throws for programmer errors: outside a scope, without an instance, bad resource', async () => {
    const { live, mount } = await setup();
    const app = mount(defineComponent(() => () => null));
    expect(() => app.runWithContext(() => useSubscribe('books', () => {}))).toThrow(/setup\(\) or an effectScope/);
    const scope = effectScope();
    expect(() => scope.run(() => useLiveUpdates())).toThrow(/liveUpdatesPlugin/);
    expect(() => app.runWithContext(() => scope.run(() => useSubscribe('', () => {})))).toThrow(TypeError);
    scope.stop();
    expect(() => createApp({}).use(liveUpdatesPlugin, undefined as unknown as LiveUpdates)).toThrow(TypeError);
    const status: StateInfo = live.status;
    expect(status.state).not.toBe('closed');
  });
});
