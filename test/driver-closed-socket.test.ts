/**
 * The database driver never waits forever on a connection whose peer closed it.
 *
 * A socket whose peer closed it is destroyed a moment before it emits 'close', which is when the
 * driver's connection learns that it is closed. A command written in between gets `false` from
 * the write and then neither 'drain' nor 'error': the unpatched driver (mongodb 7.8 and 7.9)
 * waited for 'drain' forever. Seen as a monitoring check that never ended once the engine had
 * gone (the API stayed unavailable after the engine came back) and as a write that never
 * returned (its customer's other writes queued behind it). `patches/mongodb+7.8.0.patch` fails
 * such a write as a network error, which every caller already handles. This test puts a command
 * in that window on the driver's own connection class.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { afterAll, expect, it } from '@jest/globals';

const require = createRequire(import.meta.url);
type DriverConnection = {
  closed: boolean;
  command(ns: unknown, cmd: Record<string, unknown>, options: Record<string, unknown>): Promise<unknown>;
  destroy(): void;
};
const { Connection } = require('mongodb/lib/cmap/connection.js') as {
  Connection: new (socket: net.Socket, options: Record<string, unknown>) => DriverConnection;
};
const { ns } = require('mongodb/lib/utils.js') as { ns: (name: string) => unknown };

const server = net.createServer((socket) => socket.end()); // the peer closes each connection at once
afterAll(() => new Promise((resolve) => server.close(resolve)));

it('fails a command written to a socket its peer has just closed instead of waiting forever', async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const socket = net.createConnection(port, '127.0.0.1');
  await once(socket, 'connect');
  const connection = new Connection(socket, { id: 1, generation: 0, socketTimeoutMS: 0, monitorCommands: false });
  try {
    await once(socket, 'end');
    await new Promise((resolve) => setImmediate(resolve));
    // The window: the socket is torn down, the connection does not know it yet.
    expect(socket.destroyed).toBe(true);
    expect(connection.closed).toBe(false);

    await expect(connection.command(ns('admin.$cmd'), { ping: 1 }, {})).rejects.toMatchObject({
      name: 'MongoNetworkError',
    });
  } finally {
    connection.destroy();
  }
});
