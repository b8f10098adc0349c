import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { GraphQLContext } from './context.js';

/**
 * Every root mutation field notes its arguments in the request's audit trail as it runs, so
 * the audit entry names exactly what was called with what (after variables were applied).
 */
export function traceMutationCalls(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.MUTATION_ROOT_FIELD]: (field, fieldName) => {
      const { resolve = defaultFieldResolver } = field;
      return {
        ...field,
        resolve: (source, args, ctx: GraphQLContext, info) => {
          ctx.audit.calls.push({ field: fieldName, args });
          return resolve(source, args, ctx, info);
        },
      };
    },
  });
}

/** Writes the audit entry of one mutation request, over HTTP or WebSocket. */
export async function recordMutationAudit(
  ctx: GraphQLContext,
  operationName: string | null | undefined,
  result:
    | Pick<ExecutionResult, 'data' | 'errors'>
    | { data?: unknown; errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> },
  transport: 'HTTP' | 'WEBSOCKET',
): Promise<void> {
  const { calls, changes } = ctx.audit;
  if (!calls.length && !result.errors?.length) return;
  const errorCodes = (result.errors ?? []).map((e) => String(e.extensions?.code ?? 'ERROR'));
  const userErrorCodes = Object.values(
    (result.data ?? {}) as Record<string, { userErrors?: Array<{ code: string }> } | null>,
  ).flatMap((payload) => payload?.userErrors?.map((u) => u.code) ?? []);
  await ctx.domain.audit.recordMutation({
    actorId: ctx.viewer?.userId ?? null,
    actorRole: ctx.viewer?.role ?? null,
    operation: operationName ?? null,
    calls,
    changes,
    outcome: errorCodes.length ? 'ERROR' : userErrorCodes.length ? 'USER_ERRORS' : 'OK',
    codes: [...errorCodes, ...userErrorCodes],
    requestId: ctx.requestId,
    transport,
  });
}
