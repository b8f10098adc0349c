import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/**
 * Runs the engine under a tiny POSIX shell watchdog, so it can never outlive us:
 * - our SIGTERM/SIGINT/HUP to the watchdog is passed on to the engine, and the watchdog
 *   waits for the engine's clean shutdown before it exits;
 * - the watchdog's stdin is a pipe from this process: when we die, even by SIGKILL, the
 *   pipe closes, `read` sees end-of-file and the engine is stopped. (A background job's
 *   stdin is /dev/null in a non-interactive shell, hence the pipe is kept on fd 3.)
 */
const WATCHDOG = `
exec 3<&0
"$@" </dev/null 3<&- &
engine=$!
trap 'kill -TERM "$engine" 2>/dev/null' TERM INT HUP
( while read -r _; do :; done <&3; kill -TERM "$engine" 2>/dev/null ) &
watcher=$!
wait "$engine"; status=$?
while kill -0 "$engine" 2>/dev/null; do wait "$engine"; status=$?; done
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
exit $status
`;

const LOCK_FILE = 'engine.json';
const READY_TIMEOUT_MS = 30_000;

export class EngineStartError extends Error {
  override name = 'EngineStartError';
}

export type RunningEngine = {
  uri: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Resolves when the engine has exited, whether stopped or not (a crash, an OOM kill). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the engine and waits for it to exit; safe to call more than once. */
  stop(): Promise<void>;
};

type EngineLock = { pid: number; uri: string };

const WATCHDOG_NAME = 'pulse-crm-engine-watchdog';

/**
 * True when `pid` is a live engine watchdog. A crashed API's watchdog may linger as a zombie
 * (in containers nobody reaps it) and a pid may be reused, so on Linux /proc is asked.
 */
function isEngineRunning(pid: number): boolean {
  if (existsSync('/proc/self/stat')) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(WATCHDOG_NAME);
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The URI of an engine already serving `dataDir` (started by another process), or null. */
export async function findRunningEngine(dataDir: string): Promise<string | null> {
  try {
    const lock = JSON.parse(await readFile(path.join(path.resolve(dataDir), LOCK_FILE), 'utf8')) as EngineLock;
    return isEngineRunning(lock.pid) ? lock.uri : null;
  } catch {
    return null;
  }
}

/** One engine per data folder: two engines on one SQLite folder would each cache stale metadata. */
async function claimDataDir(dataDir: string): Promise<void> {
  const lockPath = path.join(dataDir, LOCK_FILE);
  try {
    const lock = JSON.parse(await readFile(lockPath, 'utf8')) as EngineLock;
    if (isEngineRunning(lock.pid)) {
      throw new EngineStartError(
        `The data folder ${dataDir} is already served by a running engine (pid ${lock.pid}). ` +
          `Share it by starting this process with MONGODB_URI=${lock.uri}, or use another CRM_DATA_DIR.`,
      );
    }
  } catch (err) {
    if (err instanceof EngineStartError) throw err;
    // no lock, or a stale/garbled one: ours to take
  }
}

export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts FerretDB (SQLite backend) on a free loopback port with telemetry off and waits
 * until it accepts connections. The engine is stopped on `stop()`, on this process's exit,
 * and — through the watchdog — when this process dies without a chance to clean up.
 */
export async function startFerretDb(opts: {
  binary: string;
  dataDir: string;
  port?: number;
  sqliteParams?: string;
  /** More FerretDB flags, for example `--test-disable-pushdown` for the differential test. */
  extraArgs?: string[];
  onLog?: (line: string) => void;
}): Promise<RunningEngine> {
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  await claimDataDir(dataDir);

  const port = opts.port ?? (await findFreePort());
  const args = [
    '--handler=sqlite',
    `--sqlite-url=file:${dataDir}/${opts.sqliteParams ?? ''}`,
    `--state-dir=${dataDir}`,
    `--listen-addr=127.0.0.1:${port}`,
    '--telemetry=disable',
    '--debug-addr=-',
    '--log-level=warn',
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn('sh', ['-c', WATCHDOG, WATCHDOG_NAME, opts.binary, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: a terminal's Ctrl-C reaches us, and we shut the engine down
    // after our own in-flight work, not before it.
    detached: true,
  });
  let recentOutput = '';
  const onOutput = (chunk: Buffer) => {
    const text = chunk.toString();
    recentOutput = (recentOutput + text).slice(-4000);
    for (const line of text.split('\n')) if (line.trim()) opts.onLog?.(line);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  // The pipe's only job is to close when we die; nothing is ever written to it.
  child.stdin?.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const onProcessExit = () => killGroup('SIGTERM');
  process.once('exit', onProcessExit);

  const uri = `mongodb://127.0.0.1:${port}/`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.removeListener('exit', onProcessExit);
      throw new EngineStartError(
        `FerretDB exited during start (code ${child.exitCode}, signal ${child.signalCode}):\n${recentOutput}`,
      );
    }
    if (Date.now() > deadline) {
      killGroup('SIGKILL');
      process.removeListener('exit', onProcessExit);
      throw new EngineStartError(
        `FerretDB did not accept connections on port ${port} within ${READY_TIMEOUT_MS / 1000} s:\n${recentOutput}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const lockPath = path.join(dataDir, LOCK_FILE);
  await writeFile(lockPath, JSON.stringify({ pid: child.pid ?? -1, uri } satisfies EngineLock));

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      killGroup('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        killGroup('SIGKILL');
        await waitForExit(child, 5_000);
      }
      process.removeListener('exit', onProcessExit);
      await rm(lockPath, { force: true });
    })();
    return stopping;
  };

  return { uri, port, pid: child.pid ?? -1, dataDir, exited, stop };
}
