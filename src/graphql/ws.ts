import { randomUUID } from 'node:crypto';
import { getOperationAST, GraphQLError, parse, type GraphQLSchema } from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ServerRuntime } from '../shared/runtime.js';
import type { Domain } from '../modules/domain.js';
import type { GraphQLContext } from './context.js';
import { createRequestContext, viewerFromAuthorization } from './request-context.js';
import type { Viewer } from '../modules/users/service.js';
import { createSubscriptionFanout } from './subscription-fanout.js';
import { recordMutationAudit } from './audit.js';
import { ErrorCode, maskError } from './errors.js';
import { operationLimitErrors } from './limits.js';

type WsContext = Context<Record<string, unknown> | undefined, Extra>;

/** A client has this long to send `connection_init` before the socket is closed (4408). */
const CONNECTION_INIT_WAIT_MS = 10_000;

/**
 * graphql-ws server options: the same context and error masking as over HTTP, and counts
 * of open sockets and running operations for /metrics and `systemStatus`.
 */
export function graphqlWsOptions(deps: {
  schema: GraphQLSchema;
  logger: Logger;
  clock: Clock;
  runtime: ServerRuntime;
  domain: Domain;
  maxSubscriptionsPerSocket: number;
}): ServerOptions<Record<string, unknown> | undefined, Extra> {
  const { runtime } = deps;
  // Operation ids running on each socket; whatever is left when the socket closes is released.
  const running = new WeakMap<WsContext, Set<string>>();
  const connectionIds = new WeakMap<WsContext, string>();
  const viewers = new WeakMap<WsContext, Viewer>();

  const release = (ctx: WsContext, id: string) => {
    if (running.get(ctx)?.delete(id)) runtime.activeSubscriptions--;
  };

  return {
    schema: deps.schema,
    subscribe: createSubscriptionFanout({
      // Results differ by role (masking, hidden fields): subscribers share within a role.
      audienceOf: (args) => (args.contextValue as GraphQLContext).viewer?.role ?? 'anonymous',
      isStillAllowed: (args) => {
        const viewer = (args.contextValue as GraphQLContext).viewer;
        return viewer !== null && viewer.expiresAt.getTime() > Date.now();
      },
      shareableFields: new Set(['segmentChanged', 'interactionRecorded']),
    }),
    connectionInitWaitTimeout: CONNECTION_INIT_WAIT_MS,
    onConnect: async (ctx) => {
      // The token travels in connection_init: { authorization: "Bearer …" }. Without a valid
      // one the socket is closed with 4403 Forbidden.
      const viewer = await viewerFromAuthorization(deps.domain, ctx.connectionParams?.authorization);
      if (!viewer) return false;
      viewers.set(ctx, viewer);
      runtime.activeWebSockets++;
      running.set(ctx, new Set());
      connectionIds.set(ctx, (ctx.extra.request.headers['x-request-id'] as string | undefined) ?? randomUUID());
      return true;
    },
    onClose: (ctx) => {
      const ids = running.get(ctx);
      if (!ids) return; // closed before connection_init was acknowledged
      runtime.activeWebSockets--;
      runtime.activeSubscriptions -= ids.size;
      running.delete(ctx);
    },
    context: (ctx, id): GraphQLContext => {
      const requestId = `${connectionIds.get(ctx) ?? randomUUID()}:${id}`;
      return createRequestContext({
        requestId,
        logger: deps.logger.child({ requestId }),
        clock: deps.clock,
        runtime,
        domain: deps.domain,
        viewer: viewers.get(ctx) ?? null,
      });
    },
    onSubscribe: (ctx, _id, payload) => {
      if ((running.get(ctx)?.size ?? 0) >= deps.maxSubscriptionsPerSocket) {
        return [
          new GraphQLError(`At most ${deps.maxSubscriptionsPerSocket} operations may run on one connection.`, {
            extensions: { code: ErrorCode.TooManySubscriptions },
          }),
        ];
      }
      let document;
      try {
        document = parse(payload.query);
      } catch {
        return; // graphql-ws reports the syntax error itself
      }
      const tooComplex = operationLimitErrors(
        deps.schema,
        document,
        payload.variables ?? undefined,
        payload.operationName ?? undefined,
      );
      return tooComplex.length ? tooComplex : undefined;
    },
    onOperation: async (ctx, id, _payload, args, result) => {
      const operation = getOperationAST(args.document, args.operationName);
      const outcome = await result;
      if (operation?.operation === 'mutation' && !(Symbol.asyncIterator in outcome)) {
        await recordMutationAudit(args.contextValue as GraphQLContext, args.operationName, outcome, 'WEBSOCKET');
      }
      const ids = running.get(ctx);
      if (ids && !ids.has(id)) {
        ids.add(id);
        runtime.activeSubscriptions++;
      }
    },
    onNext: (_ctx, _id, _payload, args, result) => {
      if (!result.errors?.length) return;
      const requestId = (args.contextValue as GraphQLContext).requestId;
      return {
        ...result,
        errors: result.errors.map((e) => {
          const masked = maskError(e.toJSON(), e);
          if (masked.extensions?.code === 'INTERNAL_SERVER_ERROR') {
            deps.logger.error({ err: e.originalError ?? e, requestId }, 'unexpected GraphQL error');
          }
          return { ...masked, extensions: { ...masked.extensions, requestId } };
        }),
      };
    },
    onComplete: (ctx, id) => release(ctx, id),
  };
}

/**
 * WebSocket-level keepalive: every interval each socket is pinged; one that has not answered
 * the previous ping is gone (a dropped network, a suspended laptop) and is terminated, so its
 * subscriptions are released.
 */
export function startWebSocketKeepalive(server: WebSocketServer, intervalMs: number): { stop(): void } {
  if (intervalMs <= 0) return { stop: () => {} };
  const isAlive = new WeakMap<WebSocket, boolean>();
  server.on('connection', (socket) => {
    isAlive.set(socket, true);
    socket.on('pong', () => isAlive.set(socket, true));
  });
  const timer = setInterval(() => {
    for (const socket of server.clients) {
      if (isAlive.get(socket) === false) {
        socket.terminate();
        continue;
      }
      isAlive.set(socket, false);
      socket.ping();
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
