import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { RequestWindow } from './request-window.js';
import path from 'node:path';
import { projectRoot } from './paths.js';

/** Live facts about one API process, kept up to date by the server and read by status queries and metrics. */
export type ServerRuntime = {
  version: string;
  startedAt: Date;
  databaseKind: 'embedded' | 'external';
  activeWebSockets: number;
  activeSubscriptions: number;
  /** GraphQL-over-HTTP operations being executed (the client may have gone already). */
  inFlightRequests: number;
  /** The last minute of GraphQL-over-HTTP operations. */
  requests: RequestWindow;
  /** Event-loop delay since the last status reading. */
  eventLoop: IntervalHistogram;
};

export const appVersion: string = (
  JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;

export function createRuntime(databaseKind: ServerRuntime['databaseKind'], startedAt: Date): ServerRuntime {
  return {
    version: appVersion,
    startedAt,
    databaseKind,
    activeWebSockets: 0,
    activeSubscriptions: 0,
    inFlightRequests: 0,
    requests: new RequestWindow(),
    eventLoop: startEventLoopMonitor(),
  };
}

/** Sampling interval of the event-loop monitor: every reading includes it, so it is subtracted. */
export const EVENT_LOOP_RESOLUTION_MS = 20;

/** Event-loop delay over windows of 10 s (reset on a timer, not by whoever reads it). */
function startEventLoopMonitor(): IntervalHistogram {
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  histogram.enable();
  setInterval(() => histogram.reset(), 10_000).unref();
  return histogram;
}
