/**
 * A verified token's viewer is kept for 5 s, and verified again in the background once half of
 * that is gone, so a token in steady use (a socket's events, a client's requests) never lapses
 * to a look-up that its callers wait for, and a revoked right is still seen within 5 s.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { User } from '../src/modules/users/model.js';
import { createUsersService } from '../src/modules/users/service.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';

const dbName = `test_viewer_cache_${process.pid}`;
const users = createUsersService({ clock: systemClock, logger: createLogger('silent'), secret: randomBytes(32) });

beforeAll(async () => {
  await connectDatabase({ uri: process.env.MONGODB_URI!, dbName, maxPoolSize: 5 });
  await User.createIndexes();
});

afterAll(async () => {
  await mongoose.connection.dropDatabase();
  await disconnectDatabase();
});

/** Resolves once `fact()` holds (checked on every turn of the event loop), or fails after `ms`. */
async function until(fact: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!fact()) {
    if (performance.now() > deadline) throw new Error('the fact did not come to hold');
    await new Promise((r) => setImmediate(r));
  }
}

describe('the viewer cache', () => {
  it('verifies a token again in the background once half of its 5 s are gone', async () => {
    const created = await users.createUser({
      email: 'cache@pulse.test',
      name: 'Cache Test',
      role: 'ANALYST',
      password: 'a long enough password 1',
    });
    if (!('user' in created)) throw new Error(JSON.stringify(created));
    const signedIn = await users.login('cache@pulse.test', 'a long enough password 1');
    if (!('token' in signedIn)) throw new Error(JSON.stringify(signedIn));
    const { token } = signedIn;
    expect(await users.viewerFromToken(token)).toMatchObject({ role: 'ANALYST' });

    // Deactivated behind the service's back (so the cache is not told): only a new verification sees it.
    await User.updateOne({ _id: created.user._id }, { $set: { isActive: false } });
    expect(users.cachedViewerOf(token)).toMatchObject({ role: 'ANALYST' }); // fresh: kept as is
    const verifiedAt = Date.now();
    const now = jest.spyOn(Date, 'now').mockReturnValue(verifiedAt + 3_000);
    try {
      // Still inside its 5 s: answered from the cache at once, and verified again meanwhile.
      expect(users.cachedViewerOf(token)).toMatchObject({ role: 'ANALYST' });
      await until(() => users.cachedViewerOf(token) === null, 10_000);
    } finally {
      now.mockRestore();
    }
  });
});
