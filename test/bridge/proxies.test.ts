// @vitest-environment node
// The scale profile of the README, run for real: two bridge processes (`live-updates-bridge`) on one
// redis-server behind Debian's nginx and HAProxy, configured with the README's own snippets.
// Without stickiness (the same snippet minus its sticky line: plain round robin), long-polling
// clients fail — a session's requests reach a process that does not know it (400 "Session ID
// unknown") — while WebSocket-only clients are fine; with the snippet as printed, long-polling and
// upgrading clients connect to both processes, stay connected and get every change; and a drain
// (SIGTERM with --drain) moves the clients of the leaving process to the other one.
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridgeProcess, health, type NodeProcess } from '../../e2e/fixtures/bridge-processes';
import { startProxy, type ProxiedRequest, type ProxyKind, type StartedProxy } from '../../e2e/fixtures/proxies';
import { createCleanups, startClient, startRedis, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);

type Transports = 'polling' | 'websocket' | 'default';

/**
 * Heartbeat 1 s (the bridge's default is 10 s), so that a few idle seconds hold several: each a
 * long poll that returns and a pong POSTed back, more requests that must reach the same process.
 */
const BRIDGE_ARGS = ['--ping-interval', '1000', '--ping-timeout', '2000'];

async function startBridges(args: string[] = []): Promise<{ publish: (id: number) => Promise<number>; bridges: NodeProcess[] }> {
  const redis = await startRedis(cleanups);
  const bridges: NodeProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const bridge = await startBridgeProcess({ redisUrl: redis.url, args: [...BRIDGE_ARGS, ...args] });
    cleanups.add(() => bridge.stop('SIGKILL'));
    bridges.push(bridge);
  }
  // Both processes listen on Redis before anything is published.
  for (let listening = 0; listening < 2; await new Promise((resolve) => setTimeout(resolve, 50))) {
    listening = Number(((await redis.client.sendCommand(['PUBSUB', 'NUMSUB', 'rt-change'])) as [string, number])[1]);
  }
  const publish = (id: number): Promise<number> => redis.publish('rt-change', JSON.stringify({ resource: 'books', action: 'create', id, obj: { id } }));
  return { publish, bridges };
}

async function proxy(kind: ProxyKind, bridges: NodeProcess[], sticky: boolean): Promise<StartedProxy> {
  const started = await startProxy(kind, { bridgePorts: bridges.map((bridge) => bridge.port), sticky });
  cleanups.add(started.stop);
  return started;
}

/**
 * A live-updates client through the proxy, from its own loopback address (as distinct users are:
 * nginx's `hash $remote_addr` spreads them), keeping cookies (as a browser does on its own origin:
 * HAProxy's SERVERID), recording its states and the ids it receives.
 */
function proxiedClient(url: string, transports: Transports, n: number) {
  const localAddress = `127.0.0.${10 + n}`;
  const agent = new Agent({ keepAlive: true, localAddress });
  cleanups.add(() => agent.destroy());
  const client = startClient(cleanups, url, {
    socketOptions: {
      ...(transports === 'default' ? {} : { transports: [transports] }),
      // engine.io-client passes these on to Node's http (polling) and ws (WebSocket).
      ...({ agent, localAddress } as object),
      withCredentials: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
    },
  });
  /** Each state change as [when, `state:reason`]. */
  const timeline: Array<[number, string]> = [];
  client.live.onStateChange((state, { reason }) => timeline.push([Date.now(), `${state}:${reason}`]));
  client.subscribe('books');
  return {
    ...client,
    transports,
    timeline,
    get states(): string[] {
      return timeline.map(([, state]) => state);
    },
  };
}
type ProxiedClient = ReturnType<typeof proxiedClient>;

/**
 * What the front does to a session that is not sticky: a handshake, then the session's next
 * request (an engine.io close packet, answered at once), sent one after the other as a browser
 * would send them — with the cookie the handshake's response set, if any.
 */
async function sessionPairs(url: string, count: number): Promise<{ outcomes: string[]; sids: string[] }> {
  const outcomes: string[] = [];
  const sids: string[] = [];
  for (let i = 0; i < count; i++) {
    const handshake = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string };
    sids.push(sid);
    const cookie = handshake.headers.get('set-cookie')?.split(';')[0];
    const next = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1', headers: cookie ? { cookie } : {} });
    outcomes.push(`${next.status} ${await next.text()}`);
  }
  return { outcomes, sids };
}

/** Publishes `ids` 50 ms apart, then nothing for `idleMs` (heartbeats only). */
async function publishAll(publish: (id: number) => Promise<number>, ids: number[], idleMs: number): Promise<void> {
  for (const id of ids) {
    await publish(id);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, idleMs));
}

/** The ids a client got, in order. */
const received = (client: ProxiedClient): number[] => client.changes.map((change) => Number(change.split(':')[1]));
/** How often a client failed to connect or lost its connection (every state change but `connected`). */
const failures = (client: ProxiedClient): number => client.states.filter((state) => !state.startsWith('connected')).length;
/** How many times a client was connected. */
const connections = (client: ProxiedClient): number => client.states.filter((state) => state.startsWith('connected')).length;

/** Closes the clients and waits until the proxy has logged every request, WebSockets included. */
async function closeAndReadLog(front: StartedProxy, clients: ProxiedClient[], webSockets: number): Promise<ProxiedRequest[]> {
  for (const client of clients) client.live.close();
  await until(() => front.requests().filter((request) => request.status === 101).length >= webSockets, 5000);
  return front.requests();
}

describe.each(['nginx', 'haproxy'] as const)('two bridge processes behind %s', (kind) => {
  it('round robin without the snippet\'s sticky line: long-polling clients fail (400 Session ID unknown), WebSocket-only clients are fine', async () => {
    const { publish, bridges } = await startBridges();
    const front = await proxy(kind, bridges, false);
    const { outcomes: pairs } = await sessionPairs(front.url, 4);
    expect(pairs).toEqual(Array(4).fill('400 {"code":1,"message":"Session ID unknown"}'));

    const polling = Array.from({ length: 6 }, (_, i) => proxiedClient(front.url, 'polling', i));
    const webSocket = Array.from({ length: 6 }, (_, i) => proxiedClient(front.url, 'websocket', 6 + i));
    await until(() => webSocket.every((client) => client.live.state === 'connected'), 10_000);
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    await publishAll(publish, ids, 2500);
    await until(() => webSocket.every((client) => client.changes.length === ids.length), 5000);

    for (const client of webSocket) {
      expect(client.states).toEqual(['connected:connected']);
      expect(received(client)).toEqual(ids);
      expect(client.errors).toEqual([]);
    }
    // Every long-polling client failed to connect or lost its connection, again and again.
    for (const client of polling) expect(failures(client), client.states.join(' ')).toBeGreaterThan(1);
    const requests = await closeAndReadLog(front, [...polling, ...webSocket], webSocket.length);
    const unknown = requests.filter((request) => request.status === 400);
    expect(unknown.length).toBeGreaterThan(0);
    expect(unknown.every((request) => request.sid !== undefined && request.transport === 'polling')).toBe(true);
    console.log(
      `${kind}, round robin: ${pairs.length}/${pairs.length} handshake+next pairs 400 Session ID unknown; ` +
        `${polling.length} long-polling clients: ${polling.map(failures).join('/')} failed attempts or lost connections, ` +
        `${polling.map(connections).join('/')} connections, ` +
        `${polling.map((client) => received(client).length).join('/')} of ${ids.length} changes; ` +
        `${unknown.length} 400s of ${requests.length} requests; ` +
        `${webSocket.length} WebSocket-only clients: one connection each, no failure, ${ids.length}/${ids.length} changes each`,
    );
  }, 30_000);

  it('the README snippet: long-polling and upgrading clients reach both processes, stay connected and get every change', async () => {
    const { publish, bridges } = await startBridges();
    const front = await proxy(kind, bridges, true);
    const { outcomes: pairs, sids: probes } = await sessionPairs(front.url, 4);
    expect(pairs).toEqual(Array(4).fill('200 ok'));

    const clients = [
      ...Array.from({ length: 6 }, (_, i) => proxiedClient(front.url, 'polling', i)),
      ...Array.from({ length: 6 }, (_, i) => proxiedClient(front.url, 'default', 6 + i)),
      ...Array.from({ length: 4 }, (_, i) => proxiedClient(front.url, 'websocket', 12 + i)),
    ];
    await until(() => clients.every((client) => client.live.state === 'connected'), 10_000);
    const spread = await Promise.all(bridges.map(async (bridge) => (await health(bridge.url)).clients));
    expect(spread.reduce((a, b) => a + b)).toBe(clients.length);
    expect(Math.min(...spread)).toBeGreaterThan(0);

    // Changes, then only heartbeats, then changes again: a session's every request in between.
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    await publishAll(publish, ids.slice(0, 10), 2500);
    await publishAll(publish, ids.slice(10), 0);
    await until(() => clients.every((client) => client.changes.length === ids.length), 5000);
    for (const client of clients) {
      expect(client.states, client.transports).toEqual(['connected:connected']);
      expect(received(client)).toEqual(ids);
      expect(client.errors).toEqual([]);
    }

    const requests = await closeAndReadLog(front, clients, 10);
    expect(requests.filter((request) => request.status !== 200 && request.status !== 101)).toEqual([]);
    // Each session's requests all went to one process.
    const sessions = new Map<string, ProxiedRequest[]>();
    for (const request of requests) if (request.sid && !probes.includes(request.sid)) sessions.set(request.sid, [...(sessions.get(request.sid) ?? []), request]);
    for (const [sid, list] of sessions) expect(new Set(list.map((request) => request.server)).size, sid).toBe(1);
    // 6 sessions stayed on long-polling, 6 upgraded to WebSocket, 4 were WebSocket from the start.
    const upgraded = [...sessions.values()].filter((list) => list.some((request) => request.status === 101));
    expect(sessions.size - upgraded.length).toBe(6);
    expect(upgraded).toHaveLength(6);
    expect(requests.filter((request) => request.status === 101 && !request.sid)).toHaveLength(4);
    const polls = [...sessions.values()].filter((list) => !list.some((request) => request.status === 101)).map((list) => list.length);
    console.log(
      `${kind}, sticky: ${clients.length} clients (6 long-polling, 6 upgraded, 4 WebSocket-only) on processes ${spread.join(' + ')}; ` +
        `one connection each, no failure; ${ids.length}/${ids.length} changes each; ${requests.length} requests, 0 errors; ` +
        `long-polling sessions made ${Math.min(...polls)}-${Math.max(...polls)} requests each, all to one process`,
    );
  }, 30_000);

  it('a drain behind the README snippet (SIGTERM, --drain): the clients told to leave reconnect to the other process and keep getting changes', async () => {
    // One batch per 100 ms: about 20 clients on the leaving process drain over about 2 s.
    const { publish, bridges } = await startBridges(['--drain', '5000']);
    const [leaving, staying] = bridges as [NodeProcess, NodeProcess];
    const front = await proxy(kind, bridges, true);
    const clients = [
      ...Array.from({ length: 14 }, (_, i) => proxiedClient(front.url, 'polling', i)),
      ...Array.from({ length: 14 }, (_, i) => proxiedClient(front.url, 'default', 14 + i)),
      ...Array.from({ length: 14 }, (_, i) => proxiedClient(front.url, 'websocket', 28 + i)),
    ];
    await until(() => clients.every((client) => client.live.state === 'connected'), 10_000);
    for (const client of clients) client.established(); // told to leave now is a gap, not a kick
    const told = (await health(leaving.url)).clients;
    expect(told).toBeGreaterThan(0);

    const start = Date.now();
    expect(await leaving.stop('SIGTERM')).toBe(0);
    const exitedMs = Date.now() - start;
    await until(() => clients.every((client) => client.live.state === 'connected'), 10_000);
    const allBackMs = Date.now() - start;
    expect((await health(staying.url)).clients).toBe(clients.length);
    // Told to leave: a disconnect packet (server-disconnect), or for a long-polling client whose
    // request the leaving process closed first, the transport's close. Either way, after SIGTERM.
    const moved = clients.filter((client) => client.timeline.some(([at, state]) => at >= start && state.startsWith('reconnecting:')));
    expect(moved).toHaveLength(told);
    // The sticky rule may send a client back to the leaving process, which refuses it (403) until
    // the balancer sees /healthz 503 (HAProxy) or the process has gone (both): socket.io retries.
    const refusals = moved.map((client) => failures(client) - 1).sort((a, b) => a - b);
    const backAt = moved.map((client) => [...client.timeline].reverse().find(([, state]) => state === 'connected:reconnected')![0] - start).sort((a, b) => a - b);
    // HAProxy's health check sees /healthz 503 during the drain: clients move while it lasts.
    // nginx (no active check) sends them back to the leaving process until it has exited.
    // nginx retries the 503 a draining process answers to new sessions on the other process.
    expect(backAt[0]).toBeLessThan(exitedMs);
    for (const client of clients) expect(client.errors.filter((error) => error.code !== 'connect-error')).toEqual([]);

    const ids = [1, 2, 3, 4, 5];
    for (const id of ids) await publish(id);
    await until(() => clients.every((client) => client.changes.length === ids.length), 5000);
    for (const client of clients) expect(received(client)).toEqual(ids);
    const median = (list: number[]): number => list[Math.floor(list.length / 2)]!;
    console.log(
      `${kind}, drain: ${told} of ${clients.length} clients told to leave; the process exited ${exitedMs} ms after SIGTERM; ` +
        `they were back on the other process ${backAt[0]}-${backAt.at(-1)} ms after SIGTERM (median ${median(backAt)}), ${backAt.filter((at) => at < exitedMs).length} before the exit; ` +
        `refused attempts ${refusals[0]}-${refusals.at(-1)} (median ${median(refusals)}); all ${clients.length} connected ${allBackMs} ms after SIGTERM, ${ids.length}/${ids.length} changes each afterwards`,
    );
  }, 30_000);
});
