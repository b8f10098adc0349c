import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id: the caller's `x-request-id` when well formed, else a new UUID. */
    id: string;
    /** The request's logger (its lines carry `reqId`). */
    log: Logger;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROUTES = new Set(['/', '/graphql', '/healthz', '/readyz', '/metrics']);
/** Probes and scrapes: measured, not logged (one line per poll would drown the rest). */
const UNLOGGED = new Set(['/healthz', '/readyz', '/metrics']);

/** Known routes only, never raw URLs: metric label values must stay few. */
function routeLabel(pathname: string): string {
  if (ROUTES.has(pathname)) return pathname;
  if (pathname.startsWith('/dashboard/')) return '/dashboard/*';
  return pathname.startsWith('/graphiql/') ? '/graphiql/*' : 'other';
}

/**
 * Every request gets its id (echoed in `x-request-id`), a logger that carries it, one log line
 * when it ends and its duration in the metrics. The log line names the method, the path (never
 * the query string: a GET query may carry personal data), the status and the time taken; no
 * headers, so no credentials to redact. A server error is logged at error level; a refusal
 * while the database is away (503) at warn, once per request.
 */
export function createRequestLogging(logger: Logger, metrics: Metrics) {
  return (req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    req.id = id;
    let child: Logger | undefined;
    // Created when first used: most requests log nothing but their closing line.
    Object.defineProperty(req, 'log', { get: () => (child ??= logger.child({ reqId: id })), configurable: true });
    const started = performance.now();
    const endTimer = metrics.httpRequestDuration.startTimer({ method: req.method ?? 'GET' });
    const isLogged = !UNLOGGED.has(pathname);
    res.once('close', () => {
      const statusCode = res.writableFinished ? res.statusCode : 499;
      endTimer({ route: routeLabel(pathname), status_code: String(statusCode) });
      if (!isLogged) return;
      const level = statusCode === 503 ? 'warn' : statusCode >= 500 ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          reqId: id,
          req: { method: req.method, path: pathname, remoteAddress: req.socket.remoteAddress },
          res: { statusCode },
          responseTime: Math.round(performance.now() - started),
        },
        res.writableFinished ? 'request completed' : 'request aborted',
      );
    });
  };
}
