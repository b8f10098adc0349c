/**
 * A second API process on the bench's database, started the way `npm start` starts one (from
 * source through tsx), with the bench instance's settings: the same JWT secret (so the bench's
 * tokens are valid there), limits, log level and journeys. Its output is drained (a full pipe
 * would stall it) and kept short for an error message.
 */
import { spawn } from 'node:child_process';
import type { BenchContext } from './context.js';
import { projectRoot } from '../src/shared/paths.js';
import { projectEntry } from './lib/entry.js';

const READY = /ready at (http:\/\/\S+)\n/;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
const KEPT_OUTPUT = 8_000;

export type SecondInstance = { url: string; stop(): Promise<void> };

function environmentOf(ctx: BenchContext): NodeJS.ProcessEnv {
  const { config } = ctx;
  if (!config.jwtSecret) throw new Error('a second instance needs the bench to set JWT_SECRET');
  return {
    ...process.env,
    NODE_OPTIONS: undefined,
    NODE_ENV: config.env,
    MONGODB_URI: ctx.databaseUri,
    MONGODB_DB: ctx.dbName,
    MONGODB_MAX_POOL_SIZE: String(config.mongodbMaxPoolSize),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: config.logLevel,
    JWT_SECRET: config.jwtSecret,
    CRM_CURRENCY: config.currency,
    RATE_LIMIT_PER_MINUTE: String(config.rateLimitPerMinute),
    WS_MAX_SOCKETS_PER_USER: String(config.wsMaxSocketsPerUser),
    WS_MAX_SOCKETS_PER_ADDRESS: String(config.wsMaxSocketsPerAddress),
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: String(config.wsMaxSubscriptionsPerSocket),
    AUTOMATION_DEFAULT_JOURNEYS: String(config.automation.installDefaultJourneys),
    BACKGROUND_WORKERS: String(config.isBackgroundWorker),
  };
}

/** Starts the process and resolves with its GraphQL URL once it is ready; stopped on any failure. */
export async function startSecondInstance(ctx: BenchContext): Promise<SecondInstance> {
  const entry = projectEntry('src/main');
  const child = spawn(process.execPath, [...entry.execArgv, entry.file], {
    cwd: projectRoot,
    env: environmentOf(ctx),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let isReady = false;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEPT_OUTPUT);
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const isRunning = () => child.exitCode === null && child.signalCode === null;
  // The bench may end abruptly: the second instance must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!isRunning()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const url = await new Promise<string>((resolve, reject) => {
    let firstLines = '';
    const timer = setTimeout(() => fail(`no ready line within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`second API instance: ${why}\n${output}`));
    };
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (isReady) return;
      firstLines += chunk.toString();
      const match = READY.exec(firstLines);
      if (!match) return;
      isReady = true;
      clearTimeout(timer);
      resolve(match[1]!);
    });
    child.stderr.on('data', keep);
    void exited.then(() => {
      if (!isReady) fail(`exited with ${child.exitCode ?? child.signalCode}`);
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url, stop };
}
