import { Repeater } from '@repeaterjs/repeater';
import mongoose from 'mongoose';
import { pingDatabase } from '../../db/connection.js';
import { currentSequence } from '../../db/counters.js';
import type { EventLog } from '../../events/log.js';
import { EVENT_SEQUENCE } from '../../events/model.js';
import { pendingAutomationStepsCount } from '../automation/index.js';
import { pendingCampaignsCount } from '../campaigns/index.js';
import { pendingWebhookDeliveriesCount } from '../webhooks/index.js';
import type { Clock } from '../../shared/clock.js';
import { EVENT_LOOP_RESOLUTION_MS, type ServerRuntime } from '../../shared/runtime.js';
import { createTtlCache } from '../../shared/ttl-cache.js';

export type SystemStatusSnapshot = {
  version: string;
  startedAt: Date;
  uptimeSeconds: number;
  memoryRssBytes: number;
  heapUsedBytes: number;
  activeWebSockets: number;
  activeSubscriptions: number;
  eventLoopLagMs: number;
  requestsPerSecond: number;
  p95LatencyMs: number;
  errorRate: number;
  eventLogLag: number;
  queues: QueueDepths;
  /** The oldest event retention kept (its seq: the resolver turns it into a cursor). */
  oldestEvent: { seq: number; at: Date } | null;
  database: { kind: 'EMBEDDED' | 'EXTERNAL'; isReachable: boolean; pingMs: number | null; sizeBytes: number | null };
};

export type QueueDepths = { automationSteps: number; webhookDeliveries: number; campaigns: number };

/** Pending background work (small collections: their pending items only). */
export async function readQueueDepths(): Promise<QueueDepths> {
  const [automationSteps, webhookDeliveries, campaigns] = await Promise.all([
    pendingAutomationStepsCount(),
    pendingWebhookDeliveriesCount(),
    pendingCampaignsCount(),
  ]);
  return { automationSteps, webhookDeliveries, campaigns };
}

/**
 * The database's data and indexes on disk (`dbStats`). The embedded engine computes it from
 * SQLite's page index (about 1.5 ms per MB measured), so it is read at most once a minute.
 */
const databaseSize = createTtlCache(60_000, async (): Promise<number | null> => {
  const db = mongoose.connection.db;
  if (!db) return null;
  const stats = await db.command({ dbStats: 1, scale: 1 });
  const total = Number(stats.totalSize ?? Number(stats.storageSize) + Number(stats.indexSize));
  return Number.isFinite(total) ? total : null;
});

/** Events appended (by any process) that this process's tailer has not reached. */
export async function readEventLogLag(events: EventLog): Promise<number> {
  return Math.max(0, (await currentSequence(EVENT_SEQUENCE)) - events.position);
}

export async function readSystemStatus(
  runtime: ServerRuntime,
  clock: Clock,
  events: EventLog,
): Promise<SystemStatusSnapshot> {
  const pingMs = await pingDatabase().catch(() => null);
  const memory = process.memoryUsage();
  const lagMs = Math.max(0, runtime.eventLoop.percentile(99) / 1e6 - EVENT_LOOP_RESOLUTION_MS);
  const [eventLogLag, queues, oldestEvent, sizeBytes] = await Promise.all([
    readEventLogLag(events).catch(() => 0),
    readQueueDepths().catch(() => ({ automationSteps: 0, webhookDeliveries: 0, campaigns: 0 })),
    events.oldestKept().catch(() => null),
    pingMs === null ? null : databaseSize.get().catch(() => null),
  ]);
  return {
    version: runtime.version,
    startedAt: runtime.startedAt,
    uptimeSeconds: (clock.now().getTime() - runtime.startedAt.getTime()) / 1000,
    memoryRssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    activeWebSockets: runtime.activeWebSockets,
    activeSubscriptions: runtime.activeSubscriptions,
    eventLoopLagMs: Number.isFinite(lagMs) ? lagMs : 0,
    ...runtime.requests.summary(runtime.startedAt),
    eventLogLag,
    queues,
    oldestEvent,
    database: {
      kind: runtime.databaseKind === 'embedded' ? 'EMBEDDED' : 'EXTERNAL',
      isReachable: pingMs !== null,
      pingMs,
      sizeBytes,
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
  events: EventLog,
  intervalSeconds: number,
): AsyncIterableIterator<SystemStatusSnapshot> {
  return new Repeater<SystemStatusSnapshot>(async (push, stop) => {
    await push(await readSystemStatus(runtime, clock, events));
    const timer = setInterval(() => {
      readSystemStatus(runtime, clock, events).then(push, stop);
    }, intervalSeconds * 1000);
    await stop;
    clearInterval(timer);
  });
}
