import type { Resolvers } from '../../generated/graphql.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { requireViewer } from '../../graphql/auth.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';

const NOT_FOUND = [{ field: ['id'], message: 'no user has this id', code: 'NOT_FOUND' }];

export const resolvers = {
  Query: {
    me: (_p, _a, ctx) => ctx.domain.users.findById(requireViewer(ctx).userId),
    users: (_p, _a, ctx) => ctx.domain.users.list(),
  },
  Mutation: {
    login: async (_p, { email, password }, ctx) => {
      const result = await ctx.domain.users.login(email, password);
      if ('problems' in result)
        return { token: null, expiresAt: null, user: null, userErrors: toUserErrors(result.problems) };
      return { token: result.token, expiresAt: result.expiresAt, user: result.user, userErrors: [] };
    },
    createUser: async (_p, { input }, ctx) => {
      const result = await ctx.domain.users.createUser(input);
      return 'problems' in result
        ? { user: null, userErrors: toUserErrors(result.problems) }
        : { user: result.user, userErrors: [] };
    },
    updateUser: async (_p, { id, input }, ctx) => {
      const localId = localIdOf(id, 'User');
      if (!localId) return { user: null, userErrors: NOT_FOUND };
      const result = await ctx.domain.users.updateUser(localId, input);
      return result.user
        ? { user: result.user, userErrors: [] }
        : { user: null, userErrors: toUserErrors(result.problems ?? []) };
    },
    deactivateUser: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'User');
      if (!localId) return { user: null, userErrors: NOT_FOUND };
      const result = await ctx.domain.users.deactivateUser(localId);
      return result.user
        ? { user: result.user, userErrors: [] }
        : { user: null, userErrors: toUserErrors(result.problems ?? []) };
    },
  },
  User: {
    id: (u) => toGlobalId('User', String(u._id)),
    lastLoginAt: (u) => u.lastLoginAt ?? null,
  },
} satisfies Resolvers;
