// What the replay benchmarks share: whether the build under test has the bridge's change log,
// and the two ways a backend publishes a change (plain PUBLISH, or through the log).
import { io } from 'socket.io-client';
import { createClient } from 'redis';
import { bridgeDistUrl } from './util.mjs';

/** Resolves with the first `event` of a socket.io-client socket; rejects after `ms`. */
function nextEvent(socket, event, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

/**
 * Whether the built bridge logs changes: a change from `bridge.publishChange` reaches a subscribed
 * client with a numeric `offset` and a string `epoch` (embedded bus, so no Redis needed).
 */
export async function replayBuilt() {
  const { createBridge, createSilentLogger, bridgeDefaults } = await import(bridgeDistUrl('index.js'));
  const bridge = await createBridge({ port: 0, logger: createSilentLogger() });
  const socket = io(`http://127.0.0.1:${bridge.port}`, { transports: ['websocket'], forceNew: true, auth: { lu: { v: 1, subs: [{ resource: 'probe' }] } } });
  try {
    await nextEvent(socket, 'lu:hello', 5_000);
    const arriving = nextEvent(socket, bridgeDefaults.changeEvent, 5_000);
    await bridge.publishChange({ resource: 'probe', action: 'update', id: 1 });
    const change = await arriving;
    return typeof change?.offset === 'number' && typeof change?.epoch === 'string';
  } catch {
    return false;
  } finally {
    socket.disconnect();
    await bridge.close();
  }
}

/** A row that cannot be measured with this build: no numbers, and why. */
export const skippedRow = (name, unit, goal) => ({ name, ours: null, baseline: null, ratio: null, unit, goal, met: null, skipped: 'replay not built' });

/**
 * Publishes `books` changes on `redisUrl`: `plain(id)` with PUBLISH on the change channel (what
 * backends did before the log), `logged(id)` with `FCALL lu_publish 0 <json>` (appended to the
 * log and published in one step; the bridge loads the function when it starts).
 */
export async function createPublisher(redisUrl) {
  const { bridgeDefaults } = await import(bridgeDistUrl('index.js'));
  const client = createClient({ url: redisUrl });
  await client.connect();
  const json = (id) => JSON.stringify({ resource: 'books', action: 'update', id, obj: { id, title: `Book ${id}` } });
  return {
    plain: (id) => client.publish(bridgeDefaults.changeChannel, json(id)),
    logged: (id) => client.sendCommand(['FCALL', 'lu_publish', '0', json(id)]),
    close: () => client.quit(),
  };
}
