import type http from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import express from 'express';
import { isDatabaseAvailable, isDatabaseUnavailableError } from '../db/health.js';
import type { GraphQLContext } from '../graphql/context.js';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailableError, ErrorCode } from '../graphql/errors.js';
import { identityKey, type RateLimits } from '../graphql/rate-limits.js';
import type { Clock } from '../shared/clock.js';
import type { ServerRuntime } from '../shared/runtime.js';
import type { Domain } from './domain.js';
import { createRequestContext, viewerFromAuthorization } from './request-context.js';

/** The largest request: an HTTP body or a WebSocket message. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type GraphQLHttpDeps = {
  apollo: ApolloServer<GraphQLContext>;
  domain: Domain;
  limits: RateLimits;
  clock: Clock;
  runtime: ServerRuntime;
  addressOf: (request: http.IncomingMessage) => string;
};

/** A JSON answer with its status and headers. */
function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}

const BODY_ERRORS: Record<string, [number, string]> = {
  'entity.parse.failed': [400, 'The request body is not valid JSON.'],
  'entity.too.large': [413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`],
  'encoding.unsupported': [415, 'The request body has an unsupported encoding.'],
  'charset.unsupported': [415, 'The request body has an unsupported charset.'],
  'request.aborted': [400, 'The request body ended before it was complete.'],
};

/** The status, message and code of a request that failed before GraphQL ran. */
function requestErrorOf(err: unknown): [number, string, ErrorCode] {
  const { type, status } = err as { type?: string; status?: unknown };
  if (type && BODY_ERRORS[type]) return [...BODY_ERRORS[type], ErrorCode.BadRequest];
  // A static file that is not there, or not to be served (express.static): its 404 or 403, not a 500.
  if (status === 404) return [404, 'There is nothing to serve at this address.', ErrorCode.NotFound];
  if (status === 403) return [403, 'There is nothing to serve at this address.', ErrorCode.Forbidden];
  return [500, 'Internal server error', ErrorCode.Internal];
}

/**
 * A request body that is not JSON, too large or unreadable is the client's fault: a
 * GraphQL-shaped JSON answer, never an HTML page or a stack trace, as is a page's file that is not
 * there (404). Anything else is ours (500).
 */
export function sendRequestError(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const [status, message, code] = requestErrorOf(err);
  if (status === 500) req.log.error({ err }, 'unexpected error');
  sendJson(res, status, { errors: [{ message, extensions: { code, requestId: req.id } }] });
}

const parseJsonBody = express.json({ limit: MAX_BODY_BYTES });

function readBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // body-parser's JSON reader (limits, encodings, charsets) on the plain request: it sets
    // `req.body` when the content type is JSON and leaves other bodies unread.
    parseJsonBody(req as express.Request, res as express.Response, (err?: unknown) =>
      err ? reject(err) : resolve((req as { body?: unknown }).body),
    );
  });
}

/**
 * `/graphql` over HTTP, served from node:http straight into Apollo's request pipeline: the
 * outage gate, the caller's identity, its operation budget (shared with its WebSocket
 * operations), the JSON body, then Apollo. Express is not in this path: routing and its
 * request/response decorations cost more per request than Apollo itself.
 */
export function createGraphQLHttpHandler(deps: GraphQLHttpDeps) {
  const { apollo, domain, limits, clock, runtime, addressOf } = deps;
  const refuseForOutage = (res: http.ServerResponse) =>
    sendJson(
      res,
      503,
      { errors: [databaseUnavailableError().toJSON()] },
      {
        'retry-after': String(DATABASE_RETRY_AFTER_SECONDS),
      },
    );

  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // While the database is away nothing below can answer: say so at once.
    if (!isDatabaseAvailable()) {
      req.resume();
      refuseForOutage(res);
      return;
    }
    try {
      const clientAddress = addressOf(req);
      const viewer = await viewerFromAuthorization(domain, req.headers.authorization);
      // One budget per identity — the signed-in user or key, or the client address when
      // nobody is — whatever the header's text.
      const refused = await limits.operation(identityKey(viewer, clientAddress));
      if (refused) {
        req.resume();
        const extensions = { code: ErrorCode.RateLimited, retryAfterSeconds: refused.retryAfterSeconds };
        sendJson(
          res,
          429,
          { errors: [{ message: refused.message, extensions }] },
          {
            'retry-after': String(refused.retryAfterSeconds),
          },
        );
        return;
      }
      const body = await readBody(req, res);
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers))
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: {
          method: (req.method ?? 'GET').toUpperCase(),
          headers,
          search: query >= 0 ? url.slice(query) : '',
          body,
        },
        context: async () =>
          createRequestContext({
            requestId: req.id,
            logger: req.log,
            clock,
            runtime,
            domain,
            limits,
            clientAddress,
            viewer,
          }),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (err) {
      if (isDatabaseUnavailableError(err) && !res.headersSent) refuseForOutage(res);
      else sendRequestError(req, res, err);
    }
  };
}
