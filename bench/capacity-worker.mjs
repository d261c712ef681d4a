// Clients for bench/capacity.mjs, each subscribed to one resource. Over WebSocket: protocol-level
// clients speaking just enough engine.io/socket.io (open, CONNECT with a handshake `auth`, pong),
// counting change events without decoding them, so the clients cost the machine little and the
// server is what is measured. Over long-polling: socket.io-clients (polling only), a few hundred.
// `ours` subscribe in the bridge's handshake (`auth.lu.subs`); `plain` name their room in
// `auth.room` for the plain server.
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { serveRequests } from './lib/util.mjs';

const sockets = [];
let received = 0;

const authOf = (mode, resource) => (mode === 'ours' ? { lu: { v: 1, subs: [{ resource }] } } : { room: resource });
/** socket.io's CONNECT to "/" with the handshake `auth` of this kind of client. */
const connectPacket = (mode, resource) => `40${JSON.stringify(authOf(mode, resource))}`;

function openPolling(port, mode, resource, changeEvent) {
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['polling'], forceNew: true, reconnection: false, auth: authOf(mode, resource) });
  sockets.push({ terminate: () => socket.disconnect() });
  socket.on(changeEvent, () => received++);
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
}

function open(url, mode, resource, changePrefix) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    ws.on('error', reject); // after the CONNECT ack a rejection is a no-op
    ws.on('message', (data) => {
      const head = data[0];
      if (head === 0x34 && data[1] === 0x32) {
        if (data.subarray(0, changePrefix.length).equals(changePrefix)) received++;
      } else if (head === 0x32) ws.send('3'); // engine.io ping → pong
      else if (head === 0x30) ws.send(connectPacket(mode, resource)); // engine.io open → CONNECT
      else if (head === 0x34 && data[1] === 0x30) resolve(); // socket.io CONNECT ack
      else if (head === 0x34 && data[1] === 0x34) reject(new Error(`CONNECT refused: ${data}`));
    });
  });
}

serveRequests({
  /** Opens clients `from` … `from + count - 1` (client i subscribes to `res-${⌊i / perResource⌋}`), `batch` at a time. */
  async start({ port, mode, transport = 'websocket', from, count, perResource, changeEvent, batch = 200 }) {
    const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
    const changePrefix = Buffer.from(`42["${changeEvent}"`);
    for (let i = from; i < from + count; i += batch) {
      const opening = [];
      for (let j = i; j < Math.min(from + count, i + batch); j++) {
        const resource = `res-${Math.floor(j / perResource)}`;
        opening.push(transport === 'polling' ? openPolling(port, mode, resource, changeEvent) : open(url, mode, resource, changePrefix));
      }
      await Promise.all(opening);
    }
    return sockets.length;
  },
  received: () => received,
  stop() {
    sockets.splice(0).forEach((ws) => ws.terminate());
    return true;
  },
});
