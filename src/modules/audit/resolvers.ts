import type { Resolvers } from '../../generated/graphql.js';
import { connectionResolvers } from '../../graphql/connections.js';
import { userInputError } from '../../graphql/errors.js';
import { toGlobalId } from '../../shared/ids.js';
import type { AuditEntryDoc } from './model.js';

export const resolvers = {
  Query: {
    auditLog: async (_p, { filter, first, after }, ctx) => {
      const page = await ctx.domain.audit.list({ filter, first: first ?? 20, after });
      if (!page) throw userInputError('not a cursor from this list', 'after');
      return page;
    },
  },
  AuditEntry: {
    id: (e) => toGlobalId('AuditEntry', String(e._id)),
    actorRole: (e) => e.actorRole ?? null,
  },
  AuditEntryConnection: connectionResolvers<AuditEntryDoc>(),
} satisfies Resolvers;
