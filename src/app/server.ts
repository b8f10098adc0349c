import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import express from 'express';
import { useServer } from 'graphql-ws/use/ws';
import proxyaddr from 'proxy-addr';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import { isDatabaseAvailable } from '../db/health.js';
import { startPeerWake } from '../events/peer-wake.js';
import type { GraphQLContext } from '../graphql/context.js';
import { createErrorFormatter } from '../graphql/errors.js';
import { errorReportingPlugin } from '../graphql/plugins/errors.js';
import { databaseAvailabilityPlugin } from '../graphql/plugins/database-availability.js';
import { refuseHttpSubscriptionsPlugin } from '../graphql/plugins/http-subscriptions.js';
import { operationLimitsPlugin } from '../graphql/plugins/limits.js';
import { metricsPlugin } from '../graphql/plugins/metrics.js';
import { graphqlWsOptions, limitSocketsPerAddress, startWebSocketKeepalive } from '../graphql/ws.js';
import { createRateLimits } from '../graphql/rate-limits.js';
import { graphqlResponseStatusPlugin } from '../graphql/plugins/response-status.js';
import { applyAuthDirectives } from '../graphql/auth.js';
import { traceMutationCalls } from '../graphql/audit.js';
import { auditPlugin } from '../graphql/plugins/audit.js';
import { readEventLogLag, readQueueDepths } from '../modules/system/index.js';
import { passwordChecks, resolveJwtSecret } from '../modules/users/index.js';
import type { Clock } from '../shared/clock.js';
import type { IntervalJob } from '../shared/interval-job.js';
import type { Logger } from '../shared/logger.js';
import { addBackgroundGauges, createMetrics } from '../shared/metrics.js';
import { createRuntime, type ServerRuntime } from '../shared/runtime.js';
import { createDomain, type Domain } from './domain.js';
import { startBackgroundJobs } from './jobs.js';
import { prepareDatabase } from './prepare.js';
import { cachedViewerFromAuthorization, createRequestContext, viewerFromAuthorization } from './request-context.js';
import { buildSchema } from './schema.js';
import { createGraphQLHttpHandler, MAX_BODY_BYTES } from './graphql-http.js';
import {
  addHealthRoutes,
  addPages,
  requestErrors,
  sendGraphiqlPage,
  serveMetrics,
  wantsGraphiqlPage,
} from './http-routes.js';
import { createRequestLogging } from './request-logging.js';

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
  const peerWake = config.eventWakeAddress
    ? await startPeerWake({
        address: config.eventWakeAddress,
        logger,
        onWake: () => domain.events.wake(),
      })
    : null;
  if (peerWake) domain.events.afterAppend = () => peerWake.notify();
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
  const httpServer = http.createServer();

  // The same size limit for a WebSocket message as for an HTTP body (ws closes with 1009).
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  limitSocketsPerAddress(wsServer, config.wsMaxSocketsPerAddress, addressOf);
  const ws = graphqlWsOptions({
    schema,
    logger,
    clock,
    runtime,
    viewerFromAuthorization: (authorization) => viewerFromAuthorization(domain, authorization),
    cachedViewerFromAuthorization: (authorization) => cachedViewerFromAuthorization(domain, authorization),
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
                // A delivery run ends at its next delivery rather than at the end of the queue.
                ['webhook deliveries', async () => domain.webhooks.stopDelivering()],
                ['background jobs', () => Promise.all(jobs.map((j) => j.stop()))],
                ['campaign runner', () => domain.campaignRunner.stop()],
                ['event consumers', () => Promise.all(domain.consumers.map((c) => c.stop()))],
                ['analytics rebuild', () => domain.analytics.stop()],
                ['event log wakes', async () => peerWake?.stop()],
                ['event log', () => domain.events.stop()],
              ];
              for (const [name, step] of steps) {
                const startedAt = performance.now();
                try {
                  await step();
                  logger.debug(
                    { step: name, durationMs: Math.round(performance.now() - startedAt) },
                    'shutdown step done',
                  );
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
      // No type or field has a cache hint: the plugin would only cost a hook per resolved field.
      ApolloServerPluginCacheControlDisabled(),
      metricsPlugin(metrics, runtime),
      errorReportingPlugin(),
      refuseHttpSubscriptionsPlugin(),
      operationLimitsPlugin(),
      databaseAvailabilityPlugin(isDatabaseAvailable),
      auditPlugin(),
      graphqlResponseStatusPlugin(),
    ],
  });
  await apollo.start();

  const graphqlHttp = createGraphQLHttpHandler({ apollo, domain, limits, clock, runtime, addressOf });
  addHealthRoutes(app);
  const metricsServer = await serveMetrics(app, config, metrics, logger);
  addPages(app, config);
  // A browser's GET gets GraphiQL's page; API GETs are served like POSTs.
  app.get('/graphql', (req, res) => (wantsGraphiqlPage(config, req) ? sendGraphiqlPage(res) : graphqlHttp(req, res)));
  app.use(requestErrors);

  // GraphQL's POST (nearly every API call) goes straight to its handler; the pages, health
  // checks and metrics through Express.
  const logRequest = createRequestLogging(logger, metrics);
  httpServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query >= 0 ? url.slice(0, query) : url;
    logRequest(req, res, pathname);
    if ((pathname === '/graphql' || pathname === '/graphql/') && req.method !== 'GET') void graphqlHttp(req, res);
    else app(req, res);
  });

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
