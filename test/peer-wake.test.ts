/**
 * Instances wake each other's event-log tailers when they append: a datagram to each instance
 * registered on the same database, which only makes the receiver poll the log at once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { startPeerWake, type PeerWake } from '../src/events/peer-wake.js';
import { createLogger } from '../src/shared/logger.js';

const dbName = `test_peer_wake_${process.pid}`;
const logger = createLogger('silent');
const started: PeerWake[] = [];

beforeAll(async () => {
  await connectDatabase({ uri: process.env.MONGODB_URI!, dbName, maxPoolSize: 5 });
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await mongoose.connection.dropDatabase();
  await disconnectDatabase();
});

/** A started peer and the promise of its next wake. */
async function peer() {
  let onNext: (() => void) | undefined;
  const wake = await startPeerWake({
    address: '127.0.0.1',
    logger,
    onWake: () => onNext?.(),
  });
  started.push(wake);
  return {
    wake,
    nextWake: () => new Promise<void>((resolve) => (onNext = resolve)),
  };
}

/** Resolves once `fact()` holds (checked on every turn of the event loop), or fails after `ms`. */
async function until(fact: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!fact()) {
    if (performance.now() > deadline) throw new Error('the fact did not come to hold');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('event log wakes between instances', () => {
  it('wakes the other instances on the same database, each way, and forgets one that stops', async () => {
    const first = await peer();
    const second = await peer();
    // The second knew the first from the list; the first hears of the second from its hello.
    expect(second.wake.peerCount).toBe(1);
    await until(() => first.wake.peerCount === 1, 5_000);

    const firstWoken = first.nextWake();
    second.wake.notify();
    await firstWoken;
    const secondWoken = second.nextWake();
    first.wake.notify();
    await secondWoken;

    const registered = mongoose.connection.collection('event_log_peers');
    expect(await registered.countDocuments()).toBe(2);
    await second.wake.stop();
    expect(await registered.countDocuments()).toBe(1);
  });

  it('says which address it cannot listen at', async () => {
    await expect(startPeerWake({ address: '192.0.2.1', logger, onWake: () => undefined })).rejects.toThrow(
      /EVENT_WAKE_ADDRESS=192\.0\.2\.1: cannot listen/,
    );
  });
});
