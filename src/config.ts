import path from 'node:path';
import { z } from 'zod';
import type { RateLimitSettings } from './graphql/rate-limits.js';
import { normaliseHost, type OutboundPolicy } from './shared/outbound-http.js';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A comma-separated list of host names or addresses, normalised as URLs write them. */
const hostList = z.string().transform((value, ctx) =>
  value
    .split(',')
    .filter((entry) => entry.trim())
    .map((entry) => {
      const host = normaliseHost(entry);
      if (host === null) ctx.addIssue({ code: 'custom', message: `"${entry.trim()}" is not a host name or address` });
      return host ?? '';
    }),
);

/**
 * Every setting comes from the environment and is validated here, once, at start.
 * The README's configuration table mirrors this schema.
 */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MONGODB_URI: z.string().startsWith('mongodb').optional(),
  MONGODB_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'letters, digits, _ and - only')
    .default('pulse_crm'),
  MONGODB_MAX_POOL_SIZE: z.coerce.number().int().min(1).max(500).optional(),
  MONGODB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  CRM_DATA_DIR: z.string().min(1).default('.data'),
  CRM_ENGINE_CACHE_DIR: z.string().min(1).optional(),
  CRM_FERRETDB_BIN: z.string().min(1).optional(),
  CRM_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as KRW')
    .default('KRW'),
  CRM_DEFAULT_REGION: z
    .string()
    .regex(/^[A-Z]{2}$/, 'an ISO 3166 region such as KR')
    .default('KR'),
  GRAPHIQL: booleanFlag.optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  GRAPHQL_INTROSPECTION: booleanFlag.optional(),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  CRM_ADMIN_EMAIL: z.string().min(3).optional(),
  CRM_ADMIN_PASSWORD: z.string().min(1).optional(),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1_200),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: z.coerce.number().int().min(1).default(100),
  WS_KEEPALIVE_MS: z.coerce.number().int().min(0).default(30_000),
  WS_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).default(20),
  WS_MAX_SOCKETS_PER_ADDRESS: z.coerce.number().int().min(1).default(1_000),
  LOGIN_ATTEMPTS_PER_ADDRESS: z.coerce.number().int().min(1).default(30),
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  LOGIN_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  LOGIN_BACKOFF_SECONDS: z.coerce.number().int().min(1).default(900),
  TRUST_PROXY: z
    .string()
    .min(1)
    .transform((v, ctx) => {
      if (['false', '0', 'no'].includes(v)) return false;
      if (['true', 'yes'].includes(v)) return true;
      if (/^\d+$/.test(v)) return Number(v);
      const entries = v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      if (!entries.every((x) => /^[0-9A-Fa-f:.]+(\/\d+)?$|^(loopback|linklocal|uniquelocal)$/.test(x)))
        ctx.addIssue({
          code: 'custom',
          message: 'false, true, a number of proxies, or addresses/subnets separated by commas',
        });
      return entries;
    })
    .default(false),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  SEGMENT_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  REPAIR_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  CAMPAIGN_POLL_MS: z.coerce.number().int().min(10).default(1_000),
  CAMPAIGN_LEASE_MS: z.coerce.number().int().min(500).default(30_000),
  CAMPAIGN_BATCH_SIZE: z.coerce.number().int().min(1).max(1_000).default(500),
  CAMPAIGN_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  CAMPAIGN_WEBHOOK_SECRET: z
    .string()
    .regex(/^(whsec_)?[A-Za-z0-9+/]{24,}={0,2}$/, 'a base64 secret of at least 18 bytes, optionally prefixed whsec_')
    .optional(),
  CAMPAIGN_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(1).default(10_000),
  CAMPAIGN_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  CAMPAIGN_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(0).default(500),
  CAMPAIGN_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  BACKGROUND_WORKERS: booleanFlag.default(true),
  EVENT_WAKE_ADDRESS: z.string().min(1).default('127.0.0.1'),
  AUTOMATION_POLL_MS: z.coerce.number().int().min(10).default(1_000),
  AUTOMATION_LEASE_MS: z.coerce.number().int().min(200).default(15_000),
  AUTOMATION_RETRY_BASE_MS: z.coerce.number().int().min(0).default(60_000),
  AUTOMATION_MESSAGE_CAP_HOURS: z.coerce.number().min(0).default(24),
  AUTOMATION_INACTIVITY_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  AUTOMATION_DEFAULT_JOURNEYS: booleanFlag.default(true),
  COMPLAINT_ANOMALY_FACTOR: z.coerce.number().min(1).default(3),
  COMPLAINT_ANOMALY_MIN: z.coerce.number().int().min(1).default(5),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(0).default(5_000),
  WEBHOOK_RETRY_FOR_MS: z.coerce.number().int().min(0).default(86_400_000),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(1).default(10_000),
  WEBHOOK_ALLOW_PRIVATE: booleanFlag.optional(),
  WEBHOOK_ALLOWED_HOSTS: hostList.default([]),
  EVENT_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(7 * 86_400_000),
  EVENT_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).default(600_000),
  JOB_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30 * 86_400_000),
  WEBHOOK_DELIVERY_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30 * 86_400_000),
  AUDIT_RETENTION_MS: z.coerce.number().int().min(0).default(0),
});

export type Config = {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  mongodbUri: string | undefined;
  mongodbDb: string;
  mongodbMaxPoolSize: number;
  mongodbConnectTimeoutMs: number;
  dataDir: string;
  engineCacheDir: string | undefined;
  ferretdbBinary: string | undefined;
  currency: string;
  defaultRegion: string;
  isGraphiqlEnabled: boolean;
  isProduction: boolean;
  jwtSecret: string | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  isIntrospectionEnabled: boolean;
  /** Field suggestions ("Did you mean …?") reveal the schema: off in production. */
  isSuggestionsEnabled: boolean;
  rateLimitPerMinute: number;
  wsMaxSubscriptionsPerSocket: number;
  wsKeepaliveMs: number;
  wsMaxSocketsPerUser: number;
  wsMaxSocketsPerAddress: number;
  rateLimits: RateLimitSettings;
  /** Express's `trust proxy`: which proxies' X-Forwarded-For names the client address. */
  trustProxy: boolean | number | string[];
  /** Where /metrics is served in production: its own port, or behind a bearer token. */
  metrics: { port: number | undefined; token: string | undefined };
  shutdownTimeoutMs: number;
  segmentSweepIntervalMs: number;
  repairIntervalMs: number;
  /** Campaign sending, event consumers (automation, webhooks) and their workers run here. */
  isBackgroundWorker: boolean;
  /** Where other instances reach this one to wake its event-log tailer (UDP), or null: `off`. */
  eventWakeAddress: string | null;
  campaigns: {
    pollMs: number;
    leaseMs: number;
    batchSize: number;
    webhook: {
      url: string;
      secret: string;
      timeoutMs: number;
      maxAttempts: number;
      retryBaseMs: number;
      concurrency: number;
      outbound: OutboundPolicy;
    } | null;
  };
  automation: {
    pollMs: number;
    leaseMs: number;
    retryBaseMs: number;
    messageCapHours: number;
    inactivityIntervalMs: number;
    installDefaultJourneys: boolean;
    anomalyFactor: number;
    anomalyMinComplaints: number;
  };
  webhooks: { retryBaseMs: number; retryForMs: number; timeoutMs: number; leaseMs: number; outbound: OutboundPolicy };
  /** How long data is kept (docs/DATA-LIFECYCLE.md); 0 keeps jobs, deliveries or audit entries forever. */
  retention: RetentionSettings;
};

export type RetentionSettings = {
  eventsMs: number;
  /** How often the retention job runs on background workers; 0: only when asked. */
  pruneIntervalMs: number;
  finishedJobsMs: number;
  settledDeliveriesMs: number;
  auditMs: number;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.CAMPAIGN_WEBHOOK_URL && !e.CAMPAIGN_WEBHOOK_SECRET)
    throw new ConfigError('invalid configuration:\n  CAMPAIGN_WEBHOOK_SECRET: required with CAMPAIGN_WEBHOOK_URL');
  // Which addresses outbound webhooks (endpoints and the campaign provider) may reach.
  const outbound: OutboundPolicy = {
    allowPrivate: e.WEBHOOK_ALLOW_PRIVATE ?? e.NODE_ENV !== 'production',
    allowedHosts: e.WEBHOOK_ALLOWED_HOSTS,
  };
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    mongodbUri: e.MONGODB_URI,
    mongodbDb: e.MONGODB_DB,
    // The embedded engine serialises writes and its pool holds 100 SQLite connections:
    // a modest pool per process keeps several processes well inside it.
    mongodbMaxPoolSize: e.MONGODB_MAX_POOL_SIZE ?? (e.MONGODB_URI ? 100 : 20),
    mongodbConnectTimeoutMs: e.MONGODB_CONNECT_TIMEOUT_MS,
    dataDir: path.resolve(e.CRM_DATA_DIR),
    engineCacheDir: e.CRM_ENGINE_CACHE_DIR,
    ferretdbBinary: e.CRM_FERRETDB_BIN,
    currency: e.CRM_CURRENCY,
    defaultRegion: e.CRM_DEFAULT_REGION,
    isGraphiqlEnabled: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    isProduction: e.NODE_ENV === 'production',
    jwtSecret: e.JWT_SECRET,
    adminEmail: e.CRM_ADMIN_EMAIL,
    adminPassword: e.CRM_ADMIN_PASSWORD,
    isIntrospectionEnabled: e.GRAPHQL_INTROSPECTION ?? e.NODE_ENV !== 'production',
    isSuggestionsEnabled: e.NODE_ENV !== 'production',
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    wsMaxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
    wsKeepaliveMs: e.WS_KEEPALIVE_MS,
    wsMaxSocketsPerUser: e.WS_MAX_SOCKETS_PER_USER,
    wsMaxSocketsPerAddress: e.WS_MAX_SOCKETS_PER_ADDRESS,
    rateLimits: {
      operationsPerMinute: e.RATE_LIMIT_PER_MINUTE,
      loginAttemptsPerAddress: e.LOGIN_ATTEMPTS_PER_ADDRESS,
      loginFailuresPerAccount: e.LOGIN_FAILURES_PER_ACCOUNT,
      loginFailuresPerAddress: e.LOGIN_FAILURES_PER_ADDRESS,
      loginBackoffSeconds: e.LOGIN_BACKOFF_SECONDS,
    },
    trustProxy: e.TRUST_PROXY,
    metrics: { port: e.METRICS_PORT, token: e.METRICS_TOKEN },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    segmentSweepIntervalMs: e.SEGMENT_SWEEP_INTERVAL_MS,
    repairIntervalMs: e.REPAIR_INTERVAL_MS,
    isBackgroundWorker: e.BACKGROUND_WORKERS,
    eventWakeAddress: e.EVENT_WAKE_ADDRESS === 'off' ? null : e.EVENT_WAKE_ADDRESS,
    campaigns: {
      pollMs: e.CAMPAIGN_POLL_MS,
      leaseMs: e.CAMPAIGN_LEASE_MS,
      batchSize: e.CAMPAIGN_BATCH_SIZE,
      webhook:
        e.CAMPAIGN_WEBHOOK_URL && e.CAMPAIGN_WEBHOOK_SECRET
          ? {
              url: e.CAMPAIGN_WEBHOOK_URL,
              secret: e.CAMPAIGN_WEBHOOK_SECRET,
              timeoutMs: e.CAMPAIGN_WEBHOOK_TIMEOUT_MS,
              maxAttempts: e.CAMPAIGN_WEBHOOK_MAX_ATTEMPTS,
              retryBaseMs: e.CAMPAIGN_WEBHOOK_RETRY_BASE_MS,
              concurrency: e.CAMPAIGN_WEBHOOK_CONCURRENCY,
              outbound,
            }
          : null,
    },
    automation: {
      pollMs: e.AUTOMATION_POLL_MS,
      leaseMs: e.AUTOMATION_LEASE_MS,
      retryBaseMs: e.AUTOMATION_RETRY_BASE_MS,
      messageCapHours: e.AUTOMATION_MESSAGE_CAP_HOURS,
      inactivityIntervalMs: e.AUTOMATION_INACTIVITY_INTERVAL_MS,
      installDefaultJourneys: e.AUTOMATION_DEFAULT_JOURNEYS,
      anomalyFactor: e.COMPLAINT_ANOMALY_FACTOR,
      anomalyMinComplaints: e.COMPLAINT_ANOMALY_MIN,
    },
    webhooks: {
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryForMs: e.WEBHOOK_RETRY_FOR_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      leaseMs: e.AUTOMATION_LEASE_MS,
      outbound,
    },
    retention: {
      eventsMs: e.EVENT_RETENTION_MS,
      pruneIntervalMs: e.EVENT_PRUNE_INTERVAL_MS,
      finishedJobsMs: e.JOB_RETENTION_MS,
      settledDeliveriesMs: e.WEBHOOK_DELIVERY_RETENTION_MS,
      auditMs: e.AUDIT_RETENTION_MS,
    },
  };
}
