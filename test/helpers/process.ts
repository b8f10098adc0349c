import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/shared/paths.js';
import { TEST_AUTH_ENV } from './server.js';

const execFileAsync = promisify(execFile);

export type ApiProcess = {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  /** Resolves with the first stdout line that matches, rejects if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/**
 * Runs one of the project's entry points (`src/main.ts` for `npm start`, `src/db/cli.ts` for
 * `npm run db`) as its own Node process, the way a user starts it, from source through tsx.
 */
export function spawnEntryPoint(
  entry: 'src/main.ts' | 'src/db/cli.ts',
  env: Record<string, string | undefined>,
): ApiProcess {
  const engineBinary = process.env.PULSE_TEST_ENGINE_BINARY;
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: projectRoot,
    env: {
      ...process.env,
      MONGODB_URI: undefined,
      NODE_OPTIONS: undefined,
      LOG_LEVEL: 'warn',
      PORT: '0',
      HOST: '127.0.0.1',
      AUTOMATION_DEFAULT_JOURNEYS: 'false',
      // Tests open many sockets and requests from one address as one user.
      RATE_LIMIT_PER_MINUTE: '1000000',
      WS_MAX_SOCKETS_PER_USER: '100000',
      WS_MAX_SOCKETS_PER_ADDRESS: '100000',
      ...(engineBinary ? { CRM_FERRETDB_BIN: engineBinary } : {}),
      ...TEST_AUTH_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = stdout.match(pattern);
          if (!m) return false;
          cleanup();
          resolve(m);
          return true;
        };
        const onExit = () => {
          if (!check()) {
            cleanup();
            reject(new Error(`process exited before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.off('exit', onExit);
        };
        if (check()) return;
        child.stdout?.on('data', check);
        child.once('exit', onExit);
      });
    },
  };
}

/** Pids of the engine processes serving a data folder (the watchdog and FerretDB itself). */
export async function enginePidsFor(dataDir: string): Promise<number[]> {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-f', '--', `--state-dir=${dataDir}`]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** How often `eventually` looks again: short, so a test goes on as soon as the fact holds. */
const POLL_MS = 50;

/** Polls until `check` holds, or fails after the deadline: never a fixed sleep. */
export async function eventually<T>(
  check: () => Promise<T>,
  isDone: (v: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (isDone(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms (last value: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The promise's outcome, or a failure naming what did not happen within the deadline. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
