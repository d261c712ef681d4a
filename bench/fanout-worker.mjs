// Protocol-level socket.io clients for the fan-out benchmark: raw WebSockets speaking just enough
// engine.io/socket.io (open, CONNECT, pong) to be real clients of the bridge, counting event frames
// without decoding them, so that the clients are not what limits the measured rate.
import WebSocket from 'ws';
import { serveRequests, wallNow } from './lib/util.mjs';

const sockets = [];
let received = 0;
let lastAt = 0;

serveRequests({
  async start({ port, count }) {
    const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
    await Promise.all(
      Array.from({ length: count }, () =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url);
          sockets.push(ws);
          ws.on('error', reject);
          ws.on('message', (data) => {
            const head = data[0];
            if (head === 0x34 && data[1] === 0x32) {
              received++;
              lastAt = wallNow();
            } else if (head === 0x32) ws.send('3'); // engine.io ping → pong
            else if (head === 0x30) ws.send('40'); // engine.io open → socket.io CONNECT to "/"
            else if (head === 0x34 && data[1] === 0x30) resolve(); // socket.io CONNECT ack
          });
        }),
      ),
    );
    return sockets.length;
  },
  reset() {
    received = 0;
    lastAt = 0;
    return true;
  },
  status: () => ({ received, lastAt }),
  stop() {
    sockets.splice(0).forEach((ws) => ws.terminate());
    return true;
  },
});
