import { Repeater } from '@repeaterjs/repeater';
import { pingDatabase } from '../../db/connection.js';
import type { Clock } from '../../shared/clock.js';
import type { ServerRuntime } from '../../shared/runtime.js';

export type SystemStatusSnapshot = {
  version: string;
  startedAt: Date;
  uptimeSeconds: number;
  memoryRssBytes: number;
  heapUsedBytes: number;
  activeWebSockets: number;
  activeSubscriptions: number;
  database: { kind: 'EMBEDDED' | 'EXTERNAL'; isReachable: boolean; pingMs: number | null };
};

export async function readSystemStatus(runtime: ServerRuntime, clock: Clock): Promise<SystemStatusSnapshot> {
  const pingMs = await pingDatabase().catch(() => null);
  const memory = process.memoryUsage();
  return {
    version: runtime.version,
    startedAt: runtime.startedAt,
    uptimeSeconds: (clock.now().getTime() - runtime.startedAt.getTime()) / 1000,
    memoryRssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    activeWebSockets: runtime.activeWebSockets,
    activeSubscriptions: runtime.activeSubscriptions,
    database: {
      kind: runtime.databaseKind === 'embedded' ? 'EMBEDDED' : 'EXTERNAL',
      isReachable: pingMs !== null,
      pingMs,
    },
  };
}

export const STATUS_INTERVAL_SECONDS = { min: 1, max: 60 } as const;

/**
 * The status now, then every interval until the consumer stops. A Repeater, not an async
 * generator: a generator parked in a timer cannot be stopped until the timer fires, this
 * stops at once when the client unsubscribes or the server shuts down.
 */
export function watchSystemStatus(
  runtime: ServerRuntime,
  clock: Clock,
  intervalSeconds: number,
): AsyncIterableIterator<SystemStatusSnapshot> {
  return new Repeater<SystemStatusSnapshot>(async (push, stop) => {
    await push(await readSystemStatus(runtime, clock));
    const timer = setInterval(() => {
      readSystemStatus(runtime, clock).then(push, stop);
    }, intervalSeconds * 1000);
    await stop;
    clearInterval(timer);
  });
}
