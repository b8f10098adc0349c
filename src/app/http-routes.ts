import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config.js';
import { checkDatabase, databaseStatus } from '../db/health.js';
import { ErrorCode } from '../graphql/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { projectRoot } from '../shared/paths.js';

export const GRAPHIQL_DIR = path.join(projectRoot, 'dist-web', 'graphiql');
export const DASHBOARD_DIR = path.join(projectRoot, 'dist-web', 'dashboard');
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The largest request: an HTTP body or a WebSocket message. */
export const MAX_BODY_BYTES = 1024 * 1024;
const ROUTES = new Set(['/', '/graphql', '/healthz', '/readyz', '/metrics']);

/** Known routes only, never raw URLs: metric label values must stay few. */
function routeLabel(url: string): string {
  const p = url.split('?')[0] ?? '';
  if (ROUTES.has(p)) return p;
  if (p.startsWith('/dashboard/')) return '/dashboard/*';
  return p.startsWith('/graphiql/') ? '/graphiql/*' : 'other';
}

/** The request id (kept from `x-request-id` when well formed), its log line and its duration metric. */
export function addRequestLogging(app: express.Express, logger: Logger, metrics: Metrics): void {
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
}

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
}

// A body that is not JSON, or too large, is the client's fault: a GraphQL-shaped JSON answer,
// never an HTML page or a stack trace.
export const jsonBodyErrors: express.ErrorRequestHandler = (
  err: { type?: string; status?: number },
  req,
  res,
  next,
) => {
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
