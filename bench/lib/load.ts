/**
 * Load from a separate process (autocannon's CLI), with a warm-up before every timed side and
 * the side's own leftovers drained before the next one starts.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/shared/paths.js';

const execFileAsync = promisify(execFile);

export type LoadOptions = {
  durationS: number;
  warmUpS: number;
  connections: number;
  /** A side that completes fewer than this in its window runs again until it has (a finite rate). */
  minRequests: number;
  headers?: Record<string, string>;
};

export type LoadResult = { rate: number; p99Ms: number; requests: number };

type AutocannonResult = {
  requests: { total: number };
  duration: number;
  latency: { p99: number };
  non2xx: number;
  errors: number;
};

async function autocannon(url: string, body: string, opts: LoadOptions, stopAfter: string[]) {
  const headers = Object.entries({ 'content-type': 'application/json', ...opts.headers }).flatMap(([k, v]) => [
    '-H',
    `${k}=${v}`,
  ]);
  const { stdout } = await execFileAsync(
    path.join(projectRoot, 'node_modules', '.bin', 'autocannon'),
    // However slow an answer, it is waited for (a timed-out request would be an error).
    ['-j', '-t', '600', '-c', String(opts.connections), ...stopAfter, '-m', 'POST', ...headers, '-b', body, url],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as AutocannonResult;
  if (result.non2xx || result.errors)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  if (!(result.requests.total > 0 && result.duration > 0))
    throw new Error(`${url}: no request completed (${JSON.stringify(result).slice(0, 300)})`);
  return result;
}

/**
 * A warm-up (not counted), `drained()` (the server finished what the warm-up left queued), then
 * the timed window, then `drained()` again so whatever runs next starts on an idle server.
 */
export async function timedLoad(
  url: string,
  body: string,
  opts: LoadOptions,
  drained: () => Promise<void>,
): Promise<LoadResult> {
  await autocannon(url, body, opts, ['-d', String(opts.warmUpS)]);
  await drained();
  let result = await autocannon(url, body, opts, ['-d', String(opts.durationS)]);
  if (result.requests.total < opts.minRequests) {
    await drained();
    result = await autocannon(url, body, opts, ['-a', String(opts.minRequests)]);
  }
  await drained();
  return { rate: result.requests.total / result.duration, p99Ms: result.latency.p99, requests: result.requests.total };
}

/** Counts a node:http server's unanswered requests, so a baseline server can be drained too. */
export function inFlightCounter() {
  let inFlight = 0;
  return {
    track(res: { once(event: 'close', cb: () => void): unknown }) {
      inFlight++;
      res.once('close', () => inFlight--);
    },
    async drained() {
      while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
