/**
 * A process whose memory a benchmark reads (the API as `npm start` runs it, or a bare
 * WebSocket server), started fresh with the memory probe preloaded, and the idle clients a
 * benchmark connects to it from a process of their own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { projectRoot } from '../../src/shared/paths.js';
import { projectEntry } from './entry.js';

const PROBE = projectEntry('bench/lib/memory-probe');
/** Output kept for an error message (the API logs at info; the rest is dropped). */
const KEPT_OUTPUT = 16_384;

export type MemoryReading = { heapUsed: number; rss: number; external: number; arrayBuffers: number };

export type MeasuredProcess = {
  child: ChildProcess;
  /** Memory after full collections (and a heap snapshot written to `heapSnapshot`, when given). */
  readMemory(heapSnapshot?: string): Promise<MemoryReading>;
  /** Resolves with the first output line that matches (or rejects when the process ends first). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
};

/** Forks `module` (`src/main`: a module of the project) with `--expose-gc` and the memory probe. */
export function startMeasuredProcess(module: string, env: Record<string, string | undefined>) {
  const entry = projectEntry(module);
  const child = fork(entry.file, [], {
    cwd: projectRoot,
    execArgv: ['--expose-gc', ...PROBE.execArgv, '--import', PROBE.file],
    env: { ...process.env, NODE_OPTIONS: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-KEPT_OUTPUT));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextReading = 0;

  const measured: MeasuredProcess = {
    child,
    readMemory(heapSnapshot) {
      const id = nextReading++;
      return new Promise((resolve, reject) => {
        const onMessage = (m: { memory?: number; usage?: NodeJS.MemoryUsage; hasGc?: boolean }) => {
          if (m.memory !== id) return;
          cleanup();
          if (!m.hasGc) return reject(new Error(`${entry}: no global.gc (run with --expose-gc)`));
          const { heapUsed, rss, external, arrayBuffers } = m.usage!;
          resolve({ heapUsed, rss, external, arrayBuffers });
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${entry} exited while its memory was read:\n${output}`));
        };
        const cleanup = () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ readMemory: id, ...(heapSnapshot ? { heapSnapshot } : {}) });
      });
    },
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match) done(() => resolve(match));
        };
        const onExit = () => done(() => reject(new Error(`${entry} exited before printing ${pattern}:\n${output}`)));
        const timer = setTimeout(
          () => done(() => reject(new Error(`${entry}: no ${pattern} within ${timeoutMs} ms:\n${output}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          child.off('exit', onExit);
          settle();
        };
        child.stdout!.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return measured;
}

/**
 * The API as `npm start` runs it, in a process of its own on an existing database (`uri`,
 * `dbName`), with production defaults unless `env` says otherwise. Resolves once it is ready.
 */
export async function startApiProcess(opts: {
  uri: string;
  dbName: string;
  env: Record<string, string | undefined>;
}): Promise<MeasuredProcess & { url: string; metric(name: string): Promise<number> }> {
  const api = startMeasuredProcess('src/main', {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PORT: '0',
    HOST: '127.0.0.1',
    ...opts.env,
    MONGODB_URI: opts.uri,
    MONGODB_DB: opts.dbName,
  });
  try {
    const [, url] = await api.waitForLine(/ready at (\S+)/, 120_000);
    const metricsUrl = url!.replace(/\/graphql$/, '/metrics');
    const metricsToken = opts.env.METRICS_TOKEN;
    return {
      ...api,
      url: url!,
      async metric(name) {
        const res = await fetch(metricsUrl, {
          headers: metricsToken ? { authorization: `Bearer ${metricsToken}` } : {},
        });
        const text = await res.text();
        const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
        if (!line) throw new Error(`no metric ${name} at ${metricsUrl} (HTTP ${res.status})`);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      },
    };
  } catch (err) {
    await api.stop();
    throw err;
  }
}

type ClientsReport = { connected?: number; error?: string };

/**
 * `count` idle clients in a process of their own (bench/lib/idle-subscribers.ts): graphql-ws
 * subscribers, or plain WebSockets for a floor. Resolves once every one is connected.
 */
export async function openIdleClients(mode: 'graphql' | 'raw', url: string, count: number, token: string) {
  const entry = projectEntry('bench/lib/idle-subscribers');
  const child = fork(entry.file, [mode, url.replace(/^http/, 'ws'), String(count), token], {
    execArgv: entry.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.send({ close: true });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error('idle clients: not all connected within 300 s')), 300_000);
      const onMessage = (m: ClientsReport) => {
        if (m.error) done(new Error(`idle clients: ${m.error}`));
        else if (m.connected === count) done();
      };
      const onExit = () => done(new Error('idle clients: the process exited'));
      const done = (err?: Error) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  } catch (err) {
    await close();
    throw err;
  }
  return { child, close };
}
