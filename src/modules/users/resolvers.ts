import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../graphql/errors.js';
import type { Resolvers } from '../../generated/graphql.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { requireViewer } from '../../graphql/auth.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';
import { notFound } from '../../shared/problems.js';
import { diffFields } from '../audit/index.js';

const noSuchUser = () => toUserErrors(notFound('user').problems);

export const resolvers = {
  Query: {
    me: (_p, _a, ctx) => ctx.domain.users.findById(requireViewer(ctx).userId),
    users: (_p, _a, ctx) => ctx.domain.users.list(),
    apiKeys: (_p, _a, ctx) => ctx.domain.users.listApiKeys(),
  },
  Mutation: {
    login: async (_p, { email, password }, ctx) => {
      // Counted per field (aliases make several attempts in one request), per client address
      // and per account, whatever headers come with it.
      const refused = await ctx.limits.beforeLogin(ctx.clientAddress, email);
      if (refused)
        throw new GraphQLError(refused.message, {
          extensions: { code: ErrorCode.RateLimited, retryAfterSeconds: refused.retryAfterSeconds },
        });
      const result = await ctx.domain.users.login(email, password);
      if ('problems' in result) {
        await ctx.limits.loginFailed(ctx.clientAddress, email);
        return { token: null, expiresAt: null, user: null, userErrors: toUserErrors(result.problems) };
      }
      await ctx.limits.loginSucceeded(email);
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
      if (!localId) return { user: null, userErrors: noSuchUser() };
      const before = await ctx.domain.users.findById(localId);
      const result = await ctx.domain.users.updateUser(localId, input);
      if (before && result.user)
        ctx.audit.changes.push(...diffFields(id, before, result.user, ['name', 'role', 'isActive']));
      return result.user
        ? { user: result.user, userErrors: [] }
        : { user: null, userErrors: toUserErrors(result.problems ?? []) };
    },
    createApiKey: async (_p, { input }, ctx) => {
      const result = await ctx.domain.users.createApiKey(input);
      if ('problems' in result) return { apiKey: null, secret: null, userErrors: toUserErrors(result.problems) };
      return { apiKey: result.apiKey, secret: result.secret, userErrors: [] };
    },
    revokeApiKey: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'ApiKey');
      const apiKey = localId ? await ctx.domain.users.revokeApiKey(localId) : null;
      return apiKey
        ? { apiKey, userErrors: [] }
        : { apiKey: null, userErrors: toUserErrors(notFound('API key').problems) };
    },
    deactivateUser: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'User');
      if (!localId) return { user: null, userErrors: noSuchUser() };
      const before = await ctx.domain.users.findById(localId);
      const result = await ctx.domain.users.deactivateUser(localId);
      if (before && result.user)
        ctx.audit.changes.push(...diffFields(id, before, result.user, ['name', 'role', 'isActive']));
      return result.user
        ? { user: result.user, userErrors: [] }
        : { user: null, userErrors: toUserErrors(result.problems ?? []) };
    },
  },
  ApiKey: {
    id: (k) => toGlobalId('ApiKey', String(k._id)),
    prefix: (k) => `pcrm_${String(k._id)}`,
    lastUsedAt: (k) => k.lastUsedAt ?? null,
    revokedAt: (k) => k.revokedAt ?? null,
  },
  User: {
    id: (u) => toGlobalId('User', String(u._id)),
    lastLoginAt: (u) => u.lastLoginAt ?? null,
  },
  Colleague: {
    id: (u) => toGlobalId('User', String(u._id)),
  },
} satisfies Resolvers;
