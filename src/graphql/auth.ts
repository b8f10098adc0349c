import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import {
  defaultFieldResolver,
  getNamedType,
  GraphQLError,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
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

type AuthDirective = { roles?: Role[] };

/**
 * The input fields and enum values marked `@auth(roles: [...])`, by coordinate
 * (`CustomerFilter.minTotalPurchases`, `CustomerOrderField.TOTAL_PURCHASES`), with their roles.
 */
function guardedInputs(schema: GraphQLSchema): Map<string, readonly Role[]> {
  const guarded = new Map<string, readonly Role[]>();
  const note = (coordinate: string, element: Parameters<typeof getDirective>[1]) => {
    const roles = (getDirective(schema, element, 'auth')?.[0] as AuthDirective | undefined)?.roles;
    if (roles?.length) guarded.set(coordinate, roles);
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (isInputObjectType(type))
      for (const field of Object.values(type.getFields())) note(`${type.name}.${field.name}`, field);
    if (isEnumType(type)) for (const value of type.getValues()) note(`${type.name}.${value.name}`, value);
  }
  return guarded;
}

/** Whether a value of `type` can carry a guarded input field or enum value. */
function canCarryGuarded(
  type: GraphQLInputType,
  guarded: Map<string, readonly Role[]>,
  seen = new Set<string>(),
): boolean {
  const named = getNamedType(type);
  if (seen.has(named.name)) return false;
  seen.add(named.name);
  if (isEnumType(named)) return named.getValues().some((v) => guarded.has(`${named.name}.${v.name}`));
  if (!isInputObjectType(named)) return false;
  return Object.values(named.getFields()).some(
    (f) => guarded.has(`${named.name}.${f.name}`) || canCarryGuarded(f.type, guarded, seen),
  );
}

/**
 * Where an argument's value uses a guarded input field or enum value the role is not among
 * (`filter.minTotalPurchases`, `orderBy.field = TOTAL_PURCHASES`), or null. Filtering or ordering
 * by a field the role may not read would reveal it as well as reading it.
 */
function refusedInput(
  type: GraphQLInputType,
  value: unknown,
  path: string,
  role: Role,
  guarded: Map<string, readonly Role[]>,
): string | null {
  if (value == null) return null;
  const deniedAt = (coordinate: string) => guarded.has(coordinate) && !guarded.get(coordinate)!.includes(role);
  if (isNonNullType(type)) return refusedInput(type.ofType, value, path, role, guarded);
  if (isListType(type)) {
    for (const item of value as unknown[]) {
      const refused = refusedInput(type.ofType, item, path, role, guarded);
      if (refused) return refused;
    }
    return null;
  }
  if (isEnumType(type)) {
    const name = type.getValues().find((v) => v.value === value)?.name;
    return name && deniedAt(`${type.name}.${name}`) ? `${path} = ${name}` : null;
  }
  if (!isInputObjectType(type)) return null;
  for (const field of Object.values(type.getFields())) {
    const fieldValue = (value as Record<string, unknown>)[field.name];
    if (fieldValue == null) continue;
    if (deniedAt(`${type.name}.${field.name}`)) return `${path}.${field.name}`;
    const refused = refusedInput(field.type, fieldValue, `${path}.${field.name}`, role, guarded);
    if (refused) return refused;
  }
  return null;
}

/**
 * Enforces `@auth(roles: [...])` on every field that carries it, for queries, mutations and
 * subscriptions alike (a subscription is checked when it starts and again for every event, so
 * an expired token stops the events). On an input field or enum value it refuses, as FORBIDDEN,
 * an argument that uses it to a role not listed. The schema is the single source of who may do
 * what.
 */
export function applyAuthDirectives(schema: GraphQLSchema): GraphQLSchema {
  const guarded = guardedInputs(schema);
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => {
      const auth = getDirective(schema, field, 'auth')?.[0] as AuthDirective | undefined;
      const type = schema.getType(typeName) as GraphQLObjectType;
      const args = (type.getFields()[fieldName]?.args ?? []).filter((a) => canCarryGuarded(a.type, guarded));
      if (!auth && !args.length) return field;
      const check = (ctx: GraphQLContext, values: Record<string, unknown>) => {
        const { role } = requireViewer(ctx, auth?.roles);
        if (!args.length) return;
        for (const arg of args) {
          const refused = refusedInput(arg.type, values[arg.name], arg.name, role, guarded);
          if (refused) throw forbidden(`Your role may not use ${refused}: it refers to data your role may not see.`);
        }
      };
      const { resolve = defaultFieldResolver, subscribe } = field;
      return {
        ...field,
        resolve: (source, values, ctx: GraphQLContext, info) => {
          check(ctx, values);
          return resolve(source, values, ctx, info);
        },
        ...(subscribe
          ? {
              subscribe: (
                source: unknown,
                values: Record<string, unknown>,
                ctx: GraphQLContext,
                info: Parameters<typeof subscribe>[3],
              ) => {
                check(ctx, values);
                return subscribe(source, values, ctx, info);
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
