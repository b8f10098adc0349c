import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerRuntime } from './runtime.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One registry per server instance, so several servers in one process (tests) never collide. */
export function createMetrics(runtime: ServerRuntime) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status code.',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    graphqlOperationDuration: new Histogram({
      name: 'graphql_operation_duration_seconds',
      help: 'GraphQL operation latency over HTTP by operation type, name and outcome.',
      labelNames: ['operation_type', 'operation_name', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    graphqlErrors: new Counter({
      name: 'graphql_errors_total',
      help: 'GraphQL errors returned to clients, by code.',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    activeWebSockets: new Gauge({
      name: 'graphql_ws_connections_active',
      help: 'Open graphql-ws WebSocket connections.',
      registers: [registry],
      collect() {
        this.set(runtime.activeWebSockets);
      },
    }),
    activeSubscriptions: new Gauge({
      name: 'graphql_subscriptions_active',
      help: 'Running GraphQL subscriptions over all WebSockets.',
      registers: [registry],
      collect() {
        this.set(runtime.activeSubscriptions);
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The background side in /metrics: the event log's lag on this process and the pending work of
 * the whole deployment, read when Prometheus scrapes.
 */
export function addBackgroundGauges(
  metrics: Metrics,
  read: {
    eventLogLag: () => Promise<number>;
    queues: () => Promise<Record<'automationSteps' | 'webhookDeliveries' | 'campaigns', number>>;
    passwordChecks: () => number;
  },
): void {
  new Counter({
    name: 'pulse_password_checks_total',
    help: 'Password hashes computed for sign-ins, one per attempt whether the address is known or not.',
    registers: [metrics.registry],
    collect() {
      this.reset();
      this.inc(read.passwordChecks());
    },
  });
  new Gauge({
    name: 'pulse_event_log_lag',
    help: 'Events appended to the log that this process has not yet handed to its subscribers.',
    registers: [metrics.registry],
    async collect() {
      this.set(await read.eventLogLag());
    },
  });
  new Gauge({
    name: 'pulse_queue_depth',
    help: 'Pending background work: automation steps, webhook deliveries, campaigns scheduled or sending.',
    labelNames: ['queue'] as const,
    registers: [metrics.registry],
    async collect() {
      const q = await read.queues();
      this.set({ queue: 'automation_steps' }, q.automationSteps);
      this.set({ queue: 'webhook_deliveries' }, q.webhookDeliveries);
      this.set({ queue: 'campaigns' }, q.campaigns);
    },
  });
}
