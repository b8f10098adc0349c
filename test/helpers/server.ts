import path from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { createClient, type Client, type ClientOptions, type FormattedExecutionResult } from 'graphql-ws';
import mongoose from 'mongoose';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { connectDatabase, disconnectDatabase } from '../../src/db/connection.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { currentSequence } from '../../src/db/counters.js';
import { EVENT_SEQUENCE } from '../../src/events/model.js';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import type { ServerRuntime } from '../../src/shared/runtime.js';
import { withDeadline } from './process.js';

export type GraphQLResponse<T = Record<string, unknown>> = {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
};

export type TestServer = {
  server: RunningServer;
  url: string;
  wsUrl: string;
  baseUrl: string;
  dbName: string;
  /** POST /graphql with a JSON body, as any app would. */
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
  /** A graphql-ws client on this server, closed by stop(). */
  wsClient(options?: Partial<ClientOptions>): Client;
  /** A bearer token of the bootstrap admin (sent by graphql() and wsClient() by default). */
  adminToken: string;
  /** A token for a user of that role, created on first use. */
  tokenFor(role: 'ADMIN' | 'SALES' | 'MARKETING' | 'SUPPORT' | 'ANALYST'): Promise<string>;
  /** Stops the server and drops its database, unless asked to keep the data for a restart. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /**
   * Resolves once the background work is done: every event-log consumer has handled every
   * event, and the automation steps, webhook deliveries and campaigns that are due have run —
   * again until a round adds nothing to the log (a step's event can plan another step). A test
   * asserts "nothing more happened" after it, instead of after a pause.
   */
  settle(timeoutMs?: number): Promise<void>;
  /** Runs one of the server's periodic jobs now and resolves when that run is done. */
  runJob(name: JobName): Promise<void>;
  /**
   * Resolves once `count` subscriptions more have started on this server, counted from the call:
   * call it before subscribing, await it before causing the events they must receive.
   */
  subscriptionsStarted(count?: number, timeoutMs?: number): Promise<void>;
};

/** The periodic jobs of a server (src/app/jobs.ts). */
export type JobName =
  | 'segment-sweep'
  | 'automation-steps'
  | 'webhook-deliveries'
  | 'automation-inactivity'
  | 'repair-pending'
  | 'prune-retention';

export type StartOptions = { clock?: Clock; keepData?: boolean; env?: Record<string, string> };

/** The same secret and first admin for every server a test starts, in-process or spawned. */
export const TEST_AUTH_ENV = {
  JWT_SECRET: 'pulse-crm-test-secret-0123456789abcdef',
  CRM_ADMIN_EMAIL: 'admin@pulse.test',
  CRM_ADMIN_PASSWORD: 'correct horse battery staple',
} as const;

/** A database name of its own for each test file, so files run in parallel safely. */
function databaseNameForThisFile(): string {
  const testPath = expect.getState().testPath ?? 'unknown';
  const base = path
    .basename(testPath)
    .replace(/\.test\.ts$/, '')
    .replace(/[^A-Za-z0-9]/g, '_');
  return `test_${base}_${process.pid}`.slice(0, 60);
}

/**
 * Starts the real server on a random loopback port against the run's embedded database
 * (see global-setup.ts). Tests then talk to it over real HTTP and real graphql-ws.
 */
export async function startTestServer(opts: StartOptions = {}): Promise<TestServer> {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI is not set: the jest global setup did not run');
  const dbName = databaseNameForThisFile();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    MONGODB_URI: uri,
    MONGODB_DB: dbName,
    // Background jobs run when a test asks (the sweepSegments mutation), on the test's clock.
    SEGMENT_SWEEP_INTERVAL_MS: '0',
    REPAIR_INTERVAL_MS: '0',
    // Tests send many requests from one address; the rate limits have tests of their own.
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOGIN_ATTEMPTS_PER_ADDRESS: '1000000',
    LOGIN_FAILURES_PER_ACCOUNT: '1000000',
    LOGIN_FAILURES_PER_ADDRESS: '1000000',
    WS_MAX_SOCKETS_PER_USER: '100000',
    WS_MAX_SOCKETS_PER_ADDRESS: '100000',
    // The default journeys act on every new customer; their own tests switch them on.
    AUTOMATION_DEFAULT_JOURNEYS: 'false',
    ...TEST_AUTH_ENV,
    ...opts.env,
  });
  await connectDatabase({ uri, dbName, maxPoolSize: config.mongodbMaxPoolSize, monitorCommands: true });
  if (!opts.keepData) await mongoose.connection.dropDatabase();
  const server = await startServer({
    config,
    logger: createLogger((process.env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent'),
    clock: opts.clock ?? systemClock,
    databaseKind: 'external',
  });
  if (config.isBackgroundWorker && !opts.keepData) {
    // On a fresh database a consumer begins at the end of the log when it first takes its
    // lease: until then, an event a test causes would be before its starting point.
    await withDeadline(
      Promise.all(server.domain.consumers.map((c) => c.whenCaughtUp())),
      30_000,
      'the event-log consumers taking their place',
    );
  }
  const subscriptionsStarted = countSubscriptionStarts(server.runtime);
  const runJob = async (name: JobName) => {
    const job = server.jobs.get(name);
    if (!job) throw new Error(`the server has no job named ${name}`);
    await job.runNow();
  };
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const clients: Client[] = [];
  const adminToken = await login(baseUrl, TEST_AUTH_ENV.CRM_ADMIN_EMAIL, TEST_AUTH_ENV.CRM_ADMIN_PASSWORD);
  const roleTokens = new Map<string, string>([['ADMIN', adminToken]]);

  return {
    server,
    url: `${baseUrl}/graphql`,
    wsUrl: `ws://127.0.0.1:${server.port}/graphql`,
    baseUrl,
    dbName,
    async graphql(query, variables, headers) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          authorization: `Bearer ${adminToken}`,
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as GraphQLResponse<never>['body'] };
    },
    wsClient(options = {}) {
      const client = createClient({
        url: `ws://127.0.0.1:${server.port}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        connectionParams: { authorization: `Bearer ${adminToken}` },
        ...options,
      });
      clients.push(client);
      return client;
    },
    adminToken,
    async tokenFor(role) {
      const known = roleTokens.get(role);
      if (known) return known;
      const email = `${role.toLowerCase()}@pulse.test`;
      const password = `password for ${role}`;
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({
          query: 'mutation($input: CreateUserInput!) { createUser(input: $input) { userErrors { code } } }',
          variables: { input: { email, name: `${role} user`, role, password } },
        }),
      });
      const created = (await res.json()) as { data?: { createUser: { userErrors: unknown[] } } };
      if (created.data?.createUser.userErrors.length !== 0) throw new Error(`could not create a ${role} user`);
      const token = await login(baseUrl, email, password);
      roleTokens.set(role, token);
      return token;
    },
    async stop(stopOpts = {}) {
      await Promise.all(clients.map((c) => c.dispose()));
      await server.stop();
      if (!stopOpts.keepData) await mongoose.connection.dropDatabase().catch(() => {});
      await disconnectDatabase();
    },
    async settle(timeoutMs = 30_000) {
      if (!config.isBackgroundWorker) throw new Error('settle() needs a server that runs the background work');
      const settling = async () => {
        for (;;) {
          const end = await currentSequence(EVENT_SEQUENCE);
          await Promise.all(server.domain.consumers.map((c) => c.whenCaughtUp(end)));
          await runJob('automation-steps');
          await runJob('webhook-deliveries');
          await server.domain.campaignRunner.runNow();
          if ((await currentSequence(EVENT_SEQUENCE)) === end) return;
        }
      };
      await withDeadline(settling(), timeoutMs, 'the background work settling');
    },
    runJob,
    subscriptionsStarted,
  };
}

/**
 * The server of the enclosing describe block: started before its tests (beforeAll), stopped
 * after them (afterAll). Options may be computed then (a receiver's URL known only once it
 * listens). Read it only inside tests and hooks.
 */
export function useTestServer(
  opts: StartOptions | (() => StartOptions | Promise<StartOptions>) = {},
): SharedTestServer {
  let current: TestServer | undefined;
  let started: StartOptions = {};
  beforeAll(async () => {
    started = typeof opts === 'function' ? await opts() : opts;
    current = await startTestServer(started);
  });
  afterAll(async () => {
    await current?.stop();
  });
  const restart = async (restartOpts?: StartOptions) => {
    if (!current) throw new Error('restart(): the test server is not running');
    await current.stop({ keepData: true });
    current = undefined;
    current = await startTestServer({ ...(restartOpts ?? started), keepData: true });
  };
  return new Proxy({} as SharedTestServer, {
    get(_, key) {
      if (key === 'restart') return restart;
      if (key === 'then') return undefined; // not a promise: `await` must not look into it
      if (!current) throw new Error('the test server runs only within the tests and hooks of its describe block');
      return Reflect.get(current, key);
    },
  });
}

/** A server shared by the tests of a describe block. */
export type SharedTestServer = TestServer & {
  /** Stops the server keeping its data and starts it again, by default with the same options. */
  restart(opts?: StartOptions): Promise<void>;
};

/**
 * Counts the subscriptions that start on a server. graphql-ws acknowledges a socket, never a
 * subscription, and the server's gauge of running ones also falls as others end: the number
 * of starts, which only grows, is the fact a test waits for. The server raises the gauge in
 * graphql-ws's `onOperation`, once the operation's source is open and just before graphql-ws
 * reads it; waiters hear of it a turn of the event loop later, when the reading has begun.
 */
function countSubscriptionStarts(runtime: ServerRuntime): TestServer['subscriptionsStarted'] {
  let running = runtime.activeSubscriptions;
  let starts = 0;
  const waiters = new Set<{ until: number; resolve: () => void }>();
  Object.defineProperty(runtime, 'activeSubscriptions', {
    configurable: true,
    enumerable: true,
    get: () => running,
    set(value: number) {
      if (value > running) starts += value - running;
      running = value;
      for (const w of waiters) {
        if (starts < w.until) continue;
        waiters.delete(w);
        setImmediate(w.resolve);
      }
    },
  });
  return (count = 1, timeoutMs = 10_000) => {
    const until = starts + count;
    const started = new Promise<void>((resolve) => waiters.add({ until, resolve }));
    const waited = withDeadline(started, timeoutMs, `${count} subscription(s) starting`);
    // A test that fails before awaiting it must not leave a rejection nobody handles.
    waited.catch(() => undefined);
    return waited;
  };
}

/** Collects the first `count` results of a subscription, then unsubscribes. */
export function takeSubscription<T = Record<string, unknown>>(
  client: Client,
  query: string,
  count: number,
  variables?: Record<string, unknown>,
): Promise<FormattedExecutionResult<T, unknown>[]> {
  return new Promise((resolve, reject) => {
    const results: FormattedExecutionResult<T, unknown>[] = [];
    const unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          results.push(result);
          if (results.length === count) {
            unsubscribe();
            resolve(results);
          }
        },
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
}

/** Signs in over HTTP and returns the bearer token. */
export async function login(baseUrl: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token userErrors { code } } }',
      variables: { e: email, p: password },
    }),
  });
  const body = (await res.json()) as { data?: { login: { token: string | null } } };
  const token = body.data?.login.token;
  if (!token) throw new Error(`login failed for ${email}: ${JSON.stringify(body)}`);
  return token;
}
