import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import mongoose from 'mongoose';
import type { Logger } from '../shared/logger.js';
import { logBackgroundFailure } from '../db/health.js';
import { startIntervalJob } from '../shared/interval-job.js';

/** How often a process renews its entry, and how old an entry may be before it is ignored. */
const HEARTBEAT_MS = 10_000;
const PEER_EXPIRES_MS = 35_000;
/** How often the list of peers is read again (a new instance is woken within this). */
const PEERS_REFRESH_MS = 5_000;
/** Wakes received closer together than this are one: a flood of datagrams cannot make the tailer poll without pause. */
const MIN_WAKE_GAP_MS = 2;
const COLLECTION = 'event_log_peers';

type PeerDoc = { _id: string; address: string; port: number; seenAt: Date };

export type PeerWake = {
  /** Tells the other processes that this one appended (one datagram each per turn of the event loop). */
  notify(): void;
  /** How many other processes this one wakes. */
  readonly peerCount: number;
  stop(): Promise<void>;
};

/**
 * Wakes the other API processes' event-log tailers when this one appends, so an event written
 * through one instance reaches the subscribers of another within a millisecond or two instead
 * of at that one's next poll of the log (up to 100 ms when the log was quiet).
 *
 * Each process listens on a UDP port at `address` (loopback by default: instances on one host)
 * and registers where in the database (`event_log_peers`), renewed every 10 s and removed when
 * it stops; it reads the list of the others every 5 s, and at once when one says it started. A
 * datagram carries nothing but a mark of the database it is about: it only makes the receiver
 * poll the log at once, as it would have a little later. So a lost, stray or forged datagram
 * changes nothing but when a poll happens (and wakes closer than 2 ms apart count as one);
 * polling goes on as before, and is what is left when instances cannot reach each other's address.
 */
export async function startPeerWake(opts: { address: string; logger: Logger; onWake: () => void }): Promise<PeerWake> {
  const { address, logger, onWake } = opts;
  const id = randomBytes(8).toString('hex');
  // Processes on another database (another deployment on the same host) ignore this one's wakes.
  const database = createHash('sha256').update(mongoose.connection.name).digest('hex').slice(0, 16);
  const mark = Buffer.from(`pulse-crm wake ${database}`);
  // Sent by a process that starts: the others read the list again at once, not within 5 s.
  const hello = Buffer.from(`pulse-crm hello ${database}`);
  const peersOf = mongoose.connection.collection<PeerDoc>(COLLECTION);
  let peers: Array<{ address: string; port: number }> = [];
  const readPeers = async () => {
    const since = new Date(Date.now() - PEER_EXPIRES_MS);
    const found = await peersOf.find({ seenAt: { $gt: since } }).toArray();
    peers = found.filter((p) => p._id !== id).map((p) => ({ address: p.address, port: p.port }));
  };
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(
        new Error(
          `EVENT_WAKE_ADDRESS=${address}: cannot listen for other instances' wakes there (${err.message}); ` +
            'set an address of this host, or off',
        ),
      );
    });
    socket.bind(0, address, () => {
      socket.removeAllListeners('error');
      socket.on('error', (err) => logger.warn({ err }, 'event log wake socket failed; other instances poll'));
      resolve();
    });
  });
  socket.unref();
  const port = socket.address().port;

  const renew = () => peersOf.updateOne({ _id: id }, { $set: { address, port, seenAt: new Date() } }, { upsert: true });
  // Interval jobs: never two runs at once, and a stop waits for the run under way (a renewal
  // landing after the removal below would list a stopped process again).
  const heartbeat = startIntervalJob('event log wake list renewal', HEARTBEAT_MS, renew, logger);
  const peersRead = startIntervalJob('event log wake list read', PEERS_REFRESH_MS, readPeers, logger);
  let lastWake = 0;
  let isReading = false;
  socket.on('message', (message) => {
    if (message.equals(hello) && !isReading) {
      isReading = true;
      peersRead
        .runNow()
        .catch((err: unknown) => logBackgroundFailure(logger, err, {}, 'could not read the event log wake list'))
        .finally(() => (isReading = false));
    }
    if (!message.equals(mark)) return;
    const now = performance.now();
    if (now - lastWake < MIN_WAKE_GAP_MS) return;
    lastWake = now;
    onWake();
  });
  let isScheduled = false;
  let isStopped = false;
  const wake: PeerWake = {
    get peerCount() {
      return peers.length;
    },
    notify() {
      if (isScheduled || isStopped || !peers.length) return;
      isScheduled = true;
      setImmediate(() => {
        isScheduled = false;
        if (isStopped) return;
        for (const peer of peers) socket.send(mark, peer.port, peer.address, () => undefined);
      });
    },
    async stop() {
      if (isStopped) return;
      isStopped = true;
      await Promise.all([heartbeat.stop(), peersRead.stop()]);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await peersOf.deleteOne({ _id: id }).catch((err: unknown) => {
        logBackgroundFailure(logger, err, {}, 'could not remove this instance from the event log wake list');
      });
    },
  };
  try {
    await heartbeat.runNow();
    await peersRead.runNow();
  } catch (err) {
    await wake.stop();
    throw err;
  }
  for (const peer of peers) socket.send(hello, peer.port, peer.address, () => undefined);
  return wake;
}
