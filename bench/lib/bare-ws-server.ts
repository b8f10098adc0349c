/**
 * The floor of the memory scenario: a bare `ws` server on node:http that accepts sockets and
 * does nothing else. Prints one line with its URL when listening; SIGTERM ends it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => res.writeHead(404).end());
const sockets = new WebSocketServer({ server });
sockets.on('connection', (socket) => socket.on('error', () => socket.terminate()));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`bare ws server ready at http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`);
});
process.on('SIGTERM', () => {
  for (const socket of sockets.clients) socket.terminate();
  sockets.close();
  server.close(() => process.exit(0));
});
