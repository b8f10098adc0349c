import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { useServer } from 'graphql-ws/use/ws';
import { pinoHttp } from 'pino-http';
import proxyaddr from 'proxy-addr';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import { pingDatabase } from '../db/connection.js';
import type { GraphQLContext } from '../graphql/context.js';
import { createErrorFormatter, ErrorCode } from '../graphql/errors.js';
import { errorReportingPlugin } from '../graphql/plugins/errors.js';
import { refuseHttpSubscriptionsPlugin } from '../graphql/plugins/http-subscriptions.js';
import { operationLimitsPlugin } from '../graphql/plugins/limits.js';
import { metricsPlugin } from '../graphql/plugins/metrics.js';
import { graphqlWsOptions, limitSocketsPerAddress, startWebSocketKeepalive } from '../graphql/ws.js';
import { createRateLimits, identityKey } from '../graphql/rate-limits.js';
import { graphqlResponseStatusPlugin } from '../graphql/plugins/response-status.js';
import { applyAuthDirectives } from '../graphql/auth.js';
import { traceMutationCalls } from '../graphql/audit.js';
import { auditPlugin } from '../graphql/plugins/audit.js';
import { readEventLogLag, readQueueDepths } from '../modules/system/index.js';
import { passwordChecks, resolveJwtSecret } from '../modules/users/index.js';
import type { Viewer } from '../modules/users/service.js';
import type { Clock } from '../shared/clock.js';
import type { IntervalJob } from '../shared/interval-job.js';
import type { Logger } from '../shared/logger.js';
import { addBackgroundGauges, createMetrics } from '../shared/metrics.js';
import { projectRoot } from '../shared/paths.js';
import { createRuntime, type ServerRuntime } from '../shared/runtime.js';
import { createDomain, type Domain } from './domain.js';
import { startBackgroundJobs } from './jobs.js';
import { prepareDatabase } from './prepare.js';
import { createRequestContext, viewerFromAuthorization } from './request-context.js';
import { buildSchema } from './schema.js';

export const GRAPHIQL_DIR = path.join(projectRoot, 'dist-web', 'graphiql');
export const DASHBOARD_DIR = path.join(projectRoot, 'dist-web', 'dashboard');
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The largest request: an HTTP body or a WebSocket message. */
const MAX_BODY_BYTES = 1024 * 1024;
const ROUTES = new Set(['/', '/graphql', '/healthz', '/readyz', '/metrics']);

/** Known routes only, never raw URLs: metric label values must stay few. */
function routeLabel(url: string): string {
  const p = url.split('?')[0] ?? '';
  if (ROUTES.has(p)) return p;
  if (p.startsWith('/dashboard/')) return '/dashboard/*';
  return p.startsWith('/graphiql/') ? '/graphiql/*' : 'other';
}

export type RunningServer = {
  url: string;
  port: number;
  /** The port /metrics is served on when METRICS_PORT is set. */
  metricsPort: number | undefined;
  runtime: ServerRuntime;
  /** The process's domain services (scripts and tests read its state through them). */
  domain: Domain;
  /** The periodic background jobs, by name: `runNow()` runs one and resolves when it is done. */
  jobs: ReadonlyMap<string, IntervalJob>;
  /** Stops accepting, finishes in-flight requests, completes subscriptions, closes sockets. */
  stop(): Promise<void>;
};

export type ServerDeps = {
  config: Config;
  logger: Logger;
  clock: Clock;
  databaseKind: ServerRuntime['databaseKind'];
};

/** The only place that knows Express, http and ws: wires the API onto one port. */
export async function startServer({ config, logger, clock, databaseKind }: ServerDeps): Promise<RunningServer> {
  const runtime = createRuntime(databaseKind, clock.now());
  const metrics = createMetrics(runtime);
  const schema = traceMutationCalls(applyAuthDirectives(buildSchema()));
  const jwtSecret = await resolveJwtSecret({
    secret: config.jwtSecret,
    isProduction: config.isProduction,
    dataDir: config.dataDir,
  });
  const domain = createDomain({ config, clock, logger, jwtSecret });
  addBackgroundGauges(metrics, {
    eventLogLag: () => readEventLogLag(domain.events),
    queues: readQueueDepths,
    passwordChecks,
  });
  await prepareDatabase(domain, config, logger);
  await domain.events.start();
  if (config.isBackgroundWorker) {
    domain.campaignRunner.start();
    for (const consumer of domain.consumers) consumer.start();
  }
  const jobs = startBackgroundJobs(domain, config, logger);

  const app = express();
  app.disable('x-powered-by');
  // Which proxies may name the client address (X-Forwarded-For): none unless TRUST_PROXY says.
  app.set('trust proxy', config.trustProxy);
  const trust = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  const addressOf = (request: http.IncomingMessage) => proxyaddr(request, trust);
  const limits = createRateLimits(config.rateLimits);
  const httpServer = http.createServer(app);

  // The same size limit for a WebSocket message as for an HTTP body (ws closes with 1009).
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  limitSocketsPerAddress(wsServer, config.wsMaxSocketsPerAddress, addressOf);
  const ws = graphqlWsOptions({
    schema,
    logger,
    clock,
    runtime,
    viewerFromAuthorization: (authorization) => viewerFromAuthorization(domain, authorization),
    createContext: (base) => createRequestContext({ ...base, domain }),
    limits,
    maxSubscriptionsPerSocket: config.wsMaxSubscriptionsPerSocket,
    maxSocketsPerUser: config.wsMaxSocketsPerUser,
    isIntrospectionEnabled: config.isIntrospectionEnabled,
    isSuggestionsEnabled: config.isSuggestionsEnabled,
    addressOf,
  });
  const wsCleanup = useServer(ws.options, wsServer);
  const keepalive = startWebSocketKeepalive(wsServer, config.wsKeepaliveMs);

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: createErrorFormatter({ isSuggestionsEnabled: config.isSuggestionsEnabled }),
    introspection: config.isIntrospectionEnabled,
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown: the server stops before the database and the engine.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      {
        // Shutdown: complete every subscription and close the sockets (1001 Going Away).
        async serverWillStart() {
          return {
            async drainServer() {
              // WebSockets first, before anything awaits: the HTTP drain (below) destroys idle
              // connections, upgraded ones included, so a socket not closed by then ends with
              // 1006 instead of 1001. Then the background work, each step even if one failed.
              const steps: Array<[string, () => Promise<unknown>]> = [
                ['keepalive', async () => keepalive.stop()],
                ['websocket checks', async () => ws.stop()],
                ['websockets', async () => wsCleanup.dispose()],
                ['background jobs', () => Promise.all(jobs.map((j) => j.stop()))],
                ['campaign runner', () => domain.campaignRunner.stop()],
                ['event consumers', () => Promise.all(domain.consumers.map((c) => c.stop()))],
                ['analytics rebuild', () => domain.analytics.stop()],
                ['event log', () => domain.events.stop()],
              ];
              for (const [name, step] of steps) {
                try {
                  await step();
                } catch (err) {
                  logger.error({ err, step: name }, 'shutdown step failed');
                }
              }
            },
          };
        },
      },
      // Our own GraphiQL is served below; Apollo's landing page would load from a CDN.
      ApolloServerPluginLandingPageDisabled(),
      metricsPlugin(metrics, runtime),
      errorReportingPlugin(),
      refuseHttpSubscriptionsPlugin(),
      operationLimitsPlugin(),
      auditPlugin(),
      graphqlResponseStatusPlugin(),
    ],
  });
  await apollo.start();

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  app.use((req, res, next) => {
    const endTimer = metrics.httpRequestDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      endTimer({ route: routeLabel(req.originalUrl), status_code: String(res.statusCode) });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const pingMs = await pingDatabase();
      res.json({ status: 'ready', database: { pingMs } });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', database: { error: (err as Error).message } });
    }
  });
  // /metrics: on its own port when METRICS_PORT is set, behind METRICS_TOKEN when that is set;
  // in production never open on the API port.
  const serveMetrics: express.RequestHandler = async (req, res) => {
    if (config.metrics.token && req.headers.authorization !== `Bearer ${config.metrics.token}`) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer').json({ error: 'a bearer token is required' });
      return;
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
  let metricsServer: http.Server | undefined;
  if (config.metrics.port !== undefined) {
    const metricsApp = express();
    metricsApp.disable('x-powered-by');
    metricsApp.get('/metrics', serveMetrics);
    metricsServer = http.createServer(metricsApp);
    const server = metricsServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.metrics.port, config.host, () => resolve());
    });
  } else if (!config.isProduction || config.metrics.token) {
    app.get('/metrics', serveMetrics);
  } else {
    logger.warn('/metrics is not served: in production set METRICS_PORT (its own port) or METRICS_TOKEN');
  }

  // The operator dashboard (web/dashboard): a page that signs in and reads the API like any client.
  app.use('/dashboard', express.static(DASHBOARD_DIR, { index: false, fallthrough: false, maxAge: '1h' }));
  app.get('/', (_req, res) => {
    const page = path.join(DASHBOARD_DIR, 'index.html');
    if (!existsSync(page)) {
      res.status(503).type('text').send('The dashboard is not built: run `npm run build`.');
      return;
    }
    res.sendFile(page);
  });

  if (config.isGraphiqlEnabled) {
    app.use('/graphiql', express.static(GRAPHIQL_DIR, { index: false, fallthrough: false, maxAge: '1h' }));
    app.get('/graphql', (req, res, next) => {
      // A browser asks for HTML; API clients (GET queries) fall through to Apollo.
      if (req.accepts(['application/graphql-response+json', 'application/json', 'text/html']) !== 'text/html') {
        next();
        return;
      }
      const page = path.join(GRAPHIQL_DIR, 'index.html');
      if (!existsSync(page)) {
        res.status(503).type('text').send('GraphiQL is not built: run `npm run build`.');
        return;
      }
      res.sendFile(page);
    });
  }

  app.use(
    '/graphql',
    // One budget per identity — the signed-in user or key, or the client address when nobody
    // is — shared with its WebSocket operations; the header's text does not matter.
    async (req, res, next) => {
      try {
        // Looked up once per request: the context below reads it from res.locals.
        const viewer = await viewerFromAuthorization(domain, req.headers.authorization);
        res.locals.viewer = viewer;
        const refused = await limits.operation(identityKey(viewer, req.ip ?? 'unknown'));
        if (!refused) {
          next();
          return;
        }
        res
          .status(429)
          .setHeader('Retry-After', String(refused.retryAfterSeconds))
          .json({
            errors: [
              {
                message: refused.message,
                extensions: { code: ErrorCode.RateLimited, retryAfterSeconds: refused.retryAfterSeconds },
              },
            ],
          });
      } catch (err) {
        next(err);
      }
    },
    express.json({ limit: MAX_BODY_BYTES }),
    expressMiddleware(apollo, {
      context: async ({ req, res }): Promise<GraphQLContext> =>
        createRequestContext({
          requestId: String(req.id),
          logger: req.log,
          clock,
          runtime,
          domain,
          limits,
          clientAddress: req.ip ?? 'unknown',
          viewer: res.locals.viewer as Viewer | null,
        }),
    }),
  );

  // A body that is not JSON, or too large, is the client's fault: a GraphQL-shaped JSON answer,
  // never an HTML page or a stack trace.
  const bodyErrors: express.ErrorRequestHandler = (err: { type?: string; status?: number }, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known: Record<string, [number, string]> = {
      'entity.parse.failed': [400, 'The request body is not valid JSON.'],
      'entity.too.large': [413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`],
      'encoding.unsupported': [415, 'The request body has an unsupported encoding.'],
      'charset.unsupported': [415, 'The request body has an unsupported charset.'],
    };
    const [status, message] = (err.type && known[err.type]) || [500, 'Internal server error'];
    if (status === 500) req.log.error({ err }, 'unexpected error');
    res.status(status).json({
      errors: [
        {
          message,
          extensions: { code: status === 500 ? ErrorCode.Internal : ErrorCode.BadRequest, requestId: req.id },
        },
      ],
    });
  };
  app.use(bodyErrors);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/graphql`,
    port,
    metricsPort: metricsServer ? (metricsServer.address() as AddressInfo).port : undefined,
    runtime,
    domain,
    jobs: new Map(jobs.map((job) => [job.name, job])),
    stop: () =>
      (stopping ??= (async () => {
        await apollo.stop();
        await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      })()),
  };
}
