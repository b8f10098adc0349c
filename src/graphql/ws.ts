import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type ExecutionArgs,
  type GraphQLSchema,
} from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ServerRuntime } from '../shared/runtime.js';
import type { GraphQLContext } from './context.js';
import type { Viewer } from '../modules/users/service.js';
import { createSubscriptionFanout } from './subscription-fanout.js';
import { recordMutationAudit } from './audit.js';
import { isDatabaseAvailable, logBackgroundFailure } from '../db/health.js';
import { createErrorFormatter, databaseUnavailableError, ErrorCode } from './errors.js';
import { identityKey, type RateLimits } from './rate-limits.js';
import { operationLimitErrors } from './limits.js';

type WsContext = Context<Record<string, unknown> | undefined, Extra>;

/** A client has this long to send `connection_init` before the socket is closed (4408). */
const CONNECTION_INIT_WAIT_MS = 10_000;
/** How often every open socket's rights are checked again, events or not. */
const RECHECK_INTERVAL_MS = 2_500;
/** The close code of a socket whose viewer lost or changed its rights. */
export const CLOSE_FORBIDDEN = 4403;
/** The close code of a socket over a per-user or per-address cap (RFC 6455: try again later). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/**
 * Past this many bytes waiting in a socket's buffer, its results go through graphql-ws again,
 * whose per-subscriber queue is bounded: a subscriber that does not read is dropped, not
 * buffered without end.
 */
const DIRECT_SEND_MAX_BUFFERED = 256 * 1024;

/**
 * graphql-ws server options: the same context, validation rules, error masking and request
 * budget as over HTTP; the viewer checked again for every operation, every delivered event and
 * every few seconds (a deactivated user, a revoked key or a changed role ends the socket with
 * 4403); caps on operations per socket and sockets per user; counts of open sockets and running
 * operations for /metrics and `systemStatus`.
 */
export function graphqlWsOptions(deps: {
  schema: GraphQLSchema;
  logger: Logger;
  clock: Clock;
  runtime: ServerRuntime;
  /** The viewer behind an Authorization value (a bearer token); null when there is none. */
  viewerFromAuthorization: (authorization: unknown) => Promise<Viewer | null>;
  /** The same, as verified a moment ago; undefined when not known without a look-up. */
  cachedViewerFromAuthorization: (authorization: unknown) => Viewer | null | undefined;
  /** A fresh request context for one operation. */
  createContext: (base: Omit<GraphQLContext, 'audit' | 'loaders' | 'renewLoaders' | 'domain'>) => GraphQLContext;
  limits: RateLimits;
  maxSubscriptionsPerSocket: number;
  maxSocketsPerUser: number;
  isIntrospectionEnabled: boolean;
  isSuggestionsEnabled: boolean;
  addressOf: (request: IncomingMessage) => string;
}): { options: ServerOptions<Record<string, unknown> | undefined, Extra>; stop(): void } {
  const { runtime } = deps;
  // Operation ids running on each socket; whatever is left when the socket closes is released.
  const running = new WeakMap<WsContext, Set<string>>();
  const connectionIds = new WeakMap<WsContext, string>();
  const viewers = new WeakMap<WsContext, Viewer>();
  const authorizations = new WeakMap<WsContext, unknown>();
  const open = new Set<WsContext>();
  // The socket and operation id of each WebSocket operation's context.
  const operations = new WeakMap<GraphQLContext, { ctx: WsContext; id: string }>();
  const socketsPerUser = new Map<string, number>();
  const formatError = createErrorFormatter({ isSuggestionsEnabled: deps.isSuggestionsEnabled });
  const rules = deps.isIntrospectionEnabled ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];

  const release = (ctx: WsContext, id: string) => {
    if (running.get(ctx)?.delete(id)) runtime.activeSubscriptions--;
  };

  /**
   * The socket's viewer now (through the 5 s cache), or null when its rights ended or changed.
   * An expired token is not a change of rights: its operations and events are answered
   * UNAUTHENTICATED by the auth checks, and the client signs in again.
   */
  async function currentViewer(ctx: WsContext): Promise<Viewer | null> {
    const was = viewers.get(ctx);
    if (!was) return null;
    if (was.expiresAt.getTime() <= Date.now()) return was;
    return unchanged(was, await deps.viewerFromAuthorization(authorizations.get(ctx)));
  }
  /** The viewer now, when it is the same user with the same role as the socket's; else null. */
  const unchanged = (was: Viewer, now: Viewer | null | undefined): Viewer | null =>
    now && now.userId === was.userId && now.role === was.role ? now : null;

  function closeForbidden(ctx: WsContext): void {
    ctx.extra.socket.close(CLOSE_FORBIDDEN, 'Forbidden: your access ended or changed; sign in again');
  }

  const forbiddenError = () =>
    new GraphQLError('Your access ended or changed: sign in again.', { extensions: { code: ErrorCode.Forbidden } });

  const recheck = setInterval(() => {
    // Rights cannot be read while the database is away; sockets keep them until it returns.
    if (!isDatabaseAvailable()) return;
    for (const ctx of open) {
      currentViewer(ctx).then(
        (viewer) => {
          if (!viewer && open.has(ctx)) closeForbidden(ctx);
        },
        (err: unknown) => logBackgroundFailure(deps.logger, err, {}, 'could not check a WebSocket viewer again'),
      );
    }
  }, RECHECK_INTERVAL_MS);
  recheck.unref();

  function buildContext(ctx: WsContext, id: string): GraphQLContext {
    const requestId = `${connectionIds.get(ctx) ?? randomUUID()}:${id}`;
    const context = deps.createContext({
      requestId,
      logger: deps.logger.child({ requestId }),
      clock: deps.clock,
      runtime,
      limits: deps.limits,
      clientAddress: deps.addressOf(ctx.extra.request),
      viewer: viewers.get(ctx) ?? null,
    });
    operations.set(context, { ctx, id });
    return context;
  }

  /**
   * Sends a shared result, serialised once for all its subscribers, straight to one subscriber's
   * socket: what graphql-ws would send, with the check `onNext` makes, when that check needs no
   * look-up (the viewer's rights as verified a moment ago, unchanged). False, and nothing sent,
   * when graphql-ws must deliver it: the rights need a look-up or have changed (onNext then
   * closes the socket), the operation is over, or the socket is not reading fast enough.
   */
  function sendSerialized(args: ExecutionArgs, json: string): boolean {
    const operation = operations.get(args.contextValue as GraphQLContext);
    if (!operation) return false;
    const { ctx, id } = operation;
    const socket = ctx.extra.socket;
    if (!ctx.subscriptions[id] || socket.readyState !== socket.OPEN || socket.bufferedAmount > DIRECT_SEND_MAX_BUFFERED)
      return false;
    const was = viewers.get(ctx);
    if (!was) return false;
    if (
      was.expiresAt.getTime() > Date.now() &&
      !unchanged(was, deps.cachedViewerFromAuthorization(authorizations.get(ctx)))
    )
      return false;
    socket.send(`{"id":${JSON.stringify(id)},"type":"next","payload":${json}}`);
    return true;
  }

  const options: ServerOptions<Record<string, unknown> | undefined, Extra> = {
    schema: deps.schema,
    subscribe: createSubscriptionFanout({
      // Results differ by role (masking, hidden fields): subscribers share within a role.
      audienceOf: (args) => (args.contextValue as GraphQLContext).viewer?.role ?? 'anonymous',
      isStillAllowed: (args) => {
        const viewer = (args.contextValue as GraphQLContext).viewer;
        return viewer !== null && viewer.expiresAt.getTime() > Date.now();
      },
      shareableFields: new Set(['segmentChanged', 'interactionRecorded', 'dashboardLive']),
      sendSerialized,
    }),
    connectionInitWaitTimeout: CONNECTION_INIT_WAIT_MS,
    onConnect: async (ctx) => {
      // The token travels in connection_init: { authorization: "Bearer …" }. Without a valid
      // one the socket is closed with 4403 Forbidden.
      const authorization = ctx.connectionParams?.authorization;
      const viewer = await deps.viewerFromAuthorization(authorization);
      if (!viewer) return false;
      const sockets = socketsPerUser.get(viewer.userId) ?? 0;
      if (sockets >= deps.maxSocketsPerUser) {
        ctx.extra.socket.close(CLOSE_TRY_AGAIN_LATER, `At most ${deps.maxSocketsPerUser} connections per user`);
        return false;
      }
      socketsPerUser.set(viewer.userId, sockets + 1);
      viewers.set(ctx, viewer);
      authorizations.set(ctx, authorization);
      open.add(ctx);
      runtime.activeWebSockets++;
      running.set(ctx, new Set());
      connectionIds.set(ctx, (ctx.extra.request.headers['x-request-id'] as string | undefined) ?? randomUUID());
      return true;
    },
    onClose: (ctx) => {
      const ids = running.get(ctx);
      if (!ids) return; // closed before connection_init was acknowledged
      open.delete(ctx);
      const userId = viewers.get(ctx)?.userId;
      if (userId) {
        const left = (socketsPerUser.get(userId) ?? 1) - 1;
        if (left > 0) socketsPerUser.set(userId, left);
        else socketsPerUser.delete(userId);
      }
      runtime.activeWebSockets--;
      runtime.activeSubscriptions -= ids.size;
      running.delete(ctx);
    },
    onSubscribe: async (ctx, id, payload) => {
      // graphql-ws registers an operation before this hook runs, so a burst of subscribe
      // messages is counted as it arrives, not once the operations have started.
      if (Object.keys(ctx.subscriptions).length > deps.maxSubscriptionsPerSocket) {
        return [
          new GraphQLError(`At most ${deps.maxSubscriptionsPerSocket} operations may run on one connection.`, {
            extensions: { code: ErrorCode.TooManySubscriptions },
          }),
        ];
      }
      if (!isDatabaseAvailable()) return [databaseUnavailableError()];
      const viewer = await currentViewer(ctx);
      if (!viewer) {
        setImmediate(() => closeForbidden(ctx));
        return [forbiddenError()];
      }
      const refused = await deps.limits.operation(identityKey(viewer, deps.addressOf(ctx.extra.request)));
      if (refused) {
        return [
          new GraphQLError(refused.message, {
            extensions: { code: ErrorCode.RateLimited, retryAfterSeconds: refused.retryAfterSeconds },
          }),
        ];
      }
      let document;
      try {
        document = parse(payload.query);
      } catch (err) {
        return [
          new GraphQLError(err instanceof GraphQLError ? err.message : 'Syntax error', {
            extensions: { code: ErrorCode.ParseFailed },
          }),
        ];
      }
      // The rules HTTP applies: no introspection where it is off (production).
      const invalid = validate(deps.schema, document, rules);
      if (invalid.length)
        return invalid.map(
          (e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: ErrorCode.ValidationFailed } }),
        );
      const tooComplex = operationLimitErrors(
        deps.schema,
        document,
        payload.variables ?? undefined,
        payload.operationName ?? undefined,
      );
      if (tooComplex.length) return tooComplex;
      return {
        schema: deps.schema,
        document,
        variableValues: payload.variables,
        operationName: payload.operationName,
        contextValue: buildContext(ctx, id),
      };
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
    onNext: async (ctx, _id, _payload, args, result) => {
      // Every delivered event is checked against the viewer's rights now: none reaches a
      // socket whose user was deactivated, whose key was revoked or whose role changed.
      if (!(await currentViewer(ctx))) {
        setImmediate(() => closeForbidden(ctx));
        return { errors: [formatError(forbiddenError().toJSON(), forbiddenError())] };
      }
      if (!result.errors?.length) return;
      const requestId = (args.contextValue as GraphQLContext).requestId;
      return {
        ...result,
        errors: result.errors.map((e) => {
          const masked = formatError(e.toJSON(), e);
          if (masked.extensions?.code === 'INTERNAL_SERVER_ERROR') {
            deps.logger.error({ err: e.originalError ?? e, requestId }, 'unexpected GraphQL error');
          }
          return { ...masked, extensions: { ...masked.extensions, requestId } };
        }),
      };
    },
    onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)),
    onComplete: (ctx, id) => release(ctx, id),
  };
  return { options, stop: () => clearInterval(recheck) };
}

/**
 * At most `max` sockets from one client address at once, counted as they connect (before any
 * `connection_init`); one more is closed with 1013 (try again later).
 */
export function limitSocketsPerAddress(
  server: WebSocketServer,
  max: number,
  addressOf: (request: IncomingMessage) => string,
): void {
  const perAddress = new Map<string, number>();
  server.on('connection', (socket, request) => {
    const address = addressOf(request);
    const count = (perAddress.get(address) ?? 0) + 1;
    perAddress.set(address, count);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    if (count > max) socket.close(CLOSE_TRY_AGAIN_LATER, `At most ${max} connections per address`);
  });
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
