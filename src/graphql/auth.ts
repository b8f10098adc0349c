import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, GraphQLError, type GraphQLSchema } from 'graphql';
import type { Role } from '../modules/users/model.js';
import type { Viewer } from '../modules/users/service.js';
import type { GraphQLContext } from './context.js';
import { ErrorCode } from './errors.js';

export function unauthenticated(message = 'Sign in first: send a valid bearer token.'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Unauthenticated, http: { status: 401 } } });
}

export function forbidden(message = 'Your role may not do this.'): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.Forbidden } });
}

/** The viewer, if signed in with an unexpired token and (when roles are given) one of them. */
export function requireViewer(ctx: GraphQLContext, roles?: readonly Role[]): Viewer {
  const viewer = ctx.viewer;
  if (!viewer) throw unauthenticated();
  // Token lifetimes follow the real time (as when they are issued), not the domain clock.
  if (viewer.expiresAt.getTime() <= Date.now()) throw unauthenticated('Your token has expired: sign in again.');
  if (roles?.length && !roles.includes(viewer.role)) throw forbidden();
  return viewer;
}

/**
 * Enforces `@auth(roles: [...])` on every field that carries it, for queries, mutations and
 * subscriptions alike (a subscription is checked when it starts and again for every event, so
 * an expired token stops the events). The schema is the single source of who may do what.
 */
export function applyAuthDirectives(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field) => {
      const auth = getDirective(schema, field, 'auth')?.[0] as { roles?: Role[] } | undefined;
      if (!auth) return field;
      const { resolve = defaultFieldResolver, subscribe } = field;
      return {
        ...field,
        resolve: (source, args, ctx: GraphQLContext, info) => {
          requireViewer(ctx, auth.roles);
          return resolve(source, args, ctx, info);
        },
        ...(subscribe
          ? {
              subscribe: (
                source: unknown,
                args: Record<string, unknown>,
                ctx: GraphQLContext,
                info: Parameters<typeof subscribe>[3],
              ) => {
                requireViewer(ctx, auth.roles);
                return subscribe(source, args, ctx, info);
              },
            }
          : {}),
      };
    },
  });
}

/** ANALYSTs read customers with personal data masked: `k***@example.com`, `+8210****1111`. */
export function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}***@${domain}`;
}

export function maskPhone(phone: string): string {
  return phone.length <= 8 ? '****' : `${phone.slice(0, phone.length - 8)}****${phone.slice(-4)}`;
}

export function isMasked(ctx: GraphQLContext): boolean {
  return ctx.viewer?.role === 'ANALYST';
}
