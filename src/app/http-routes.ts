import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import type { Config } from '../config.js';
import { checkDatabase, databaseStatus } from '../db/health.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { projectRoot } from '../shared/paths.js';
import { sendRequestError } from './graphql-http.js';

export const GRAPHIQL_DIR = path.join(projectRoot, 'dist-web', 'graphiql');
export const DASHBOARD_DIR = path.join(projectRoot, 'dist-web', 'dashboard');

/** Liveness and readiness. */
export function addHealthRoutes(app: express.Express): void {
  // Liveness: the process is fine while it tries to get its database back (the body says so);
  // readiness (below) is what takes it out of a load balancer meanwhile.
  app.get('/healthz', (_req, res) => {
    const database = databaseStatus();
    res.json({
      status: 'ok',
      database: database.isAvailable
        ? { status: 'available' }
        : { status: 'unavailable', since: database.since.toISOString(), reason: database.reason },
    });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const pingMs = await checkDatabase();
      res.json({ status: 'ready', database: { pingMs } });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', database: { error: (err as Error).message } });
    }
  });
}

/**
 * /metrics: on its own port when METRICS_PORT is set (that server is returned, for stopping),
 * behind METRICS_TOKEN when that is set; in production never open on the API port.
 */
export async function serveMetrics(
  app: express.Express,
  config: Config,
  metrics: Metrics,
  logger: Logger,
): Promise<http.Server | undefined> {
  const handler: express.RequestHandler = async (req, res) => {
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
    metricsApp.get('/metrics', handler);
    metricsServer = http.createServer(metricsApp);
    const server = metricsServer;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.metrics.port, config.host, () => resolve());
    });
  } else if (!config.isProduction || config.metrics.token) {
    app.get('/metrics', handler);
  } else {
    logger.warn('/metrics is not served: in production set METRICS_PORT (its own port) or METRICS_TOKEN');
  }
  return metricsServer;
}

/** The operator dashboard and GraphiQL, served from their built bundles. */
export function addPages(app: express.Express, config: Config): void {
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

  if (config.isGraphiqlEnabled)
    app.use('/graphiql', express.static(GRAPHIQL_DIR, { index: false, fallthrough: false, maxAge: '1h' }));
}

/**
 * Whether a request to /graphql is a browser asking for GraphiQL's page (GET, HTML preferred)
 * rather than an API call: API clients' GET and POST requests go to the GraphQL handler.
 */
export function wantsGraphiqlPage(config: Config, req: express.Request): boolean {
  return (
    config.isGraphiqlEnabled &&
    req.method === 'GET' &&
    req.accepts(['application/graphql-response+json', 'application/json', 'text/html']) === 'text/html'
  );
}

export function sendGraphiqlPage(res: express.Response): void {
  const page = path.join(GRAPHIQL_DIR, 'index.html');
  if (!existsSync(page)) {
    res.status(503).type('text').send('GraphiQL is not built: run `npm run build`.');
    return;
  }
  res.sendFile(page);
}

/** Express's errors (a static file it could not read, …) answered like the GraphQL path's. */
export const requestErrors: express.ErrorRequestHandler = (err, req, res, _next) => sendRequestError(req, res, err);
