import type { Resolvers } from '../../generated/graphql.js';
import { connectionResolvers } from '../../graphql/connections.js';
import type { InteractionDoc } from './model.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { forbidden, requireViewer } from '../../graphql/auth.js';
import { userInputError } from '../../graphql/errors.js';
import type { Role } from '../users/model.js';
import { eventCursor, subscribeToEvents } from '../../graphql/event-stream.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';
import { toMoney } from '../../shared/money.js';
import type { EventDoc } from '../../events/model.js';
import type { InteractionType } from './model.js';
import type { RecordResult } from './service.js';

/** Global ids in, local ids out; an id of another type simply matches no customer. */
function withLocalCustomerId<T extends { customerId: string }>(input: T): T {
  return { ...input, customerId: localIdOf(input.customerId, 'Customer') ?? '' };
}

/** A result computed among the allowed items only, with its field paths pointing at input `k`. */
function renumber(result: RecordResult, k: number): RecordResult {
  if (!('problems' in result)) return result;
  return {
    problems: result.problems.map((p) => ({
      ...p,
      field: p.field ? ['inputs', String(k), ...p.field.slice(2)] : null,
    })),
  };
}

function toPayload(result: RecordResult) {
  if ('problems' in result)
    return { interaction: null, customer: null, isReplay: false, userErrors: toUserErrors(result.problems) };
  return { interaction: result.interaction, customer: result.customer, isReplay: result.isReplay, userErrors: [] };
}

/**
 * Access rules beyond the field's roles: purchases are recorded by ADMIN and SALES only, and
 * MARKETING records MARKETING interactions only. Null when allowed, else the reason.
 */
function deniedType(role: Role, type: InteractionType): string | null {
  if (type === 'PURCHASE' && role !== 'ADMIN' && role !== 'SALES') return 'only ADMIN and SALES record purchases';
  if (role === 'MARKETING' && type !== 'MARKETING') return 'MARKETING records MARKETING interactions only';
  return null;
}

export const resolvers = {
  Query: {
    interactions: async (_p, { filter, first, after }, ctx) => {
      const customerId = filter?.customerId != null ? (localIdOf(filter.customerId, 'Customer') ?? '') : null;
      const page = await ctx.domain.interactions.listInteractions({
        filter: { ...filter, customerId },
        first: first ?? 20,
        after,
      });
      if ('problem' in page) throw userInputError(page.problem.message, 'after');
      return page;
    },
  },
  Mutation: {
    recordInteraction: async (_p, { input }, ctx) => {
      const denied = deniedType(requireViewer(ctx).role, input.type);
      if (denied) throw forbidden(denied);
      return toPayload(await ctx.domain.interactions.recordInteraction(withLocalCustomerId(input)));
    },
    recordPurchase: async (_p, { input }, ctx) =>
      toPayload(await ctx.domain.interactions.recordPurchase(withLocalCustomerId(input))),
    recordInteractions: async (_p, { inputs }, ctx) => {
      const role = requireViewer(ctx).role;
      // Items the caller's role may not record get their own FORBIDDEN result; the rest go on.
      const denied = inputs.map((i) => deniedType(role, i.type));
      const allowed = inputs.filter((_, k) => !denied[k]);
      const recorded = await ctx.domain.interactions.recordInteractions(allowed.map((i) => withLocalCustomerId(i)));
      if ('problems' in recorded) throw userInputError(recorded.problems[0]!.message, 'inputs');
      let next = 0;
      const results: RecordResult[] = inputs.map((_, k) =>
        denied[k]
          ? { problems: [{ field: ['inputs', String(k), 'type'], message: denied[k]!, code: 'FORBIDDEN' }] }
          : renumber(recorded[next++]!, k),
      );
      return {
        results: results.map(toPayload),
        recordedCount: results.filter((r) => !('problems' in r) && !r.isReplay).length,
      };
    },
  },
  Subscription: {
    interactionRecorded: {
      subscribe: (_p, { customerId, types, after }, ctx) => {
        const customer = customerId != null ? (localIdOf(customerId, 'Customer') ?? '') : null;
        return subscribeToEvents(ctx, after, (e) => {
          if (e.type !== 'INTERACTION_RECORDED') return false;
          const { interaction } = e.payload;
          return (
            (customer === null || String(interaction.customerId) === customer) &&
            (!types?.length || types.includes(interaction.type))
          );
        });
      },
      resolve: (e: EventDoc<'INTERACTION_RECORDED'>, _a: unknown, ctx: GraphQLContext) => {
        const { interaction, customer } = e.payload;
        ctx.renewLoaders();
        ctx.loaders.customerById.prime(String(customer._id), customer);
        return { interaction, cursor: eventCursor(e.seq) };
      },
    },
  },
  Interaction: {
    id: (i) => toGlobalId('Interaction', i._id),
    customer: async (i, _a, ctx) => {
      const customer = await ctx.loaders.customerById.load(String(i.customerId));
      if (!customer) throw new Error(`interaction ${i._id} refers to a missing customer`);
      return customer;
    },
    description: (i) => i.description ?? null,
    amount: (i, _a, ctx) => (i.amountMinor != null ? toMoney(i.amountMinor, i.currency ?? ctx.domain.currency) : null),
    externalId: (i) => i.externalId ?? null,
  },
  InteractionConnection: connectionResolvers<InteractionDoc>(),
} satisfies Resolvers;
