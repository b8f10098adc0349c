import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Viewer } from '../modules/users/service.js';

/** Why a request was refused, and when to try again. */
export type Refusal = { message: string; retryAfterSeconds: number };

export type RateLimitSettings = {
  /** GraphQL operations (HTTP requests and WebSocket operations together) per identity per minute. */
  operationsPerMinute: number;
  /** Sign-in attempts from one client address per 10 minutes, whatever account they name. */
  loginAttemptsPerAddress: number;
  /** Failed sign-ins for one account before it is locked for the back-off period. */
  loginFailuresPerAccount: number;
  /** Failed sign-ins from one client address before it is locked for the back-off period. */
  loginFailuresPerAddress: number;
  /** How long an account or address stays locked after too many failures. */
  loginBackoffSeconds: number;
};

/**
 * Who a budget belongs to: the signed-in user (or API key), whatever header text carried the
 * token; the client address when nobody is signed in. A made-up bearer token is nobody.
 */
export function identityKey(viewer: Viewer | null, address: string): string {
  return viewer ? `user:${viewer.userId}` : `address:${address}`;
}

function refusal(res: unknown, message: string): Refusal {
  const ms = res instanceof RateLimiterRes ? res.msBeforeNext : 60_000;
  const retryAfterSeconds = Math.max(1, Math.ceil(ms / 1000));
  return { message: `${message}: try again in ${retryAfterSeconds} s.`, retryAfterSeconds };
}

/**
 * The request budgets of one process (rate-limiter-flexible, in memory): behind a load balancer
 * each instance keeps its own, so the effective limits are these times the number of instances.
 */
export function createRateLimits(settings: RateLimitSettings) {
  const operations = new RateLimiterMemory({
    keyPrefix: 'ops',
    points: settings.operationsPerMinute,
    duration: 60,
  });
  const loginAttempts = new RateLimiterMemory({
    keyPrefix: 'login-address',
    points: settings.loginAttemptsPerAddress,
    duration: 600,
  });
  const accountFailures = new RateLimiterMemory({
    keyPrefix: 'login-account',
    points: settings.loginFailuresPerAccount,
    duration: settings.loginBackoffSeconds,
    blockDuration: settings.loginBackoffSeconds,
  });
  const addressFailures = new RateLimiterMemory({
    keyPrefix: 'login-address-failures',
    points: settings.loginFailuresPerAddress,
    duration: settings.loginBackoffSeconds,
    blockDuration: settings.loginBackoffSeconds,
  });
  const accountKey = (email: string) => email.trim().toLowerCase();
  /** One point from the key's budget, or a refusal when it is spent. */
  const take = async (limiter: RateLimiterMemory, key: string, message: string): Promise<Refusal | null> => {
    try {
      await limiter.consume(key);
      return null;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      return refusal(res, message);
    }
  };

  return {
    /** Counts one operation against the identity's budget; a refusal when it is spent. */
    operation: (identity: string): Promise<Refusal | null> => take(operations, identity, 'Too many requests'),

    /**
     * Before one sign-in attempt (each `login` field of a request counts): refused while the
     * address has used its attempts, or the account or the address is locked after failures.
     */
    async beforeLogin(address: string, email: string): Promise<Refusal | null> {
      for (const [limiter, key] of [
        [accountFailures, accountKey(email)],
        [addressFailures, address],
      ] as const) {
        const state = await limiter.get(key);
        if (state && state.remainingPoints <= 0 && state.msBeforeNext > 0)
          return refusal(state, 'Too many failed sign-ins');
      }
      return take(loginAttempts, address, 'Too many sign-in attempts');
    },

    /**
     * A failed sign-in: counts towards locking the account and the address. Once a budget is
     * spent, beforeLogin refuses until its window ends; a failure past it (the limiter's
     * blockDuration) locks it for the whole back-off period from then.
     */
    async loginFailed(address: string, email: string): Promise<void> {
      await Promise.all([
        accountFailures.consume(accountKey(email)).catch(() => {}),
        addressFailures.consume(address).catch(() => {}),
      ]);
    },

    /** A successful sign-in clears the account's failures. */
    async loginSucceeded(email: string): Promise<void> {
      await accountFailures.delete(accountKey(email));
    },
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;
