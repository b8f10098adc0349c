import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { projectRoot } from '../shared/paths.js';
import { sealCursors } from './cursor-sealing.js';
import { resolvers as auditResolvers } from '../modules/audit/resolvers.js';
import { resolvers as analyticsResolvers } from '../modules/analytics/resolvers.js';
import { resolvers as automationResolvers } from '../modules/automation/resolvers.js';
import { resolvers as campaignResolvers } from '../modules/campaigns/resolvers.js';
import { resolvers as webhookResolvers } from '../modules/webhooks/resolvers.js';
import { resolvers as customerResolvers } from '../modules/customers/resolvers.js';
import { resolvers as insightResolvers } from '../modules/insights/resolvers.js';
import { resolvers as interactionResolvers } from '../modules/interactions/resolvers.js';
import { resolvers as segmentResolvers } from '../modules/segments/resolvers.js';
import { resolvers as systemResolvers } from '../modules/system/resolvers.js';
import { resolvers as userResolvers } from '../modules/users/resolvers.js';

export const SCHEMA_DIR = path.join(projectRoot, 'schema');

/** The SDL files, in name order: the single source of the API. */
export function readTypeDefs(): string[] {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => readFileSync(path.join(SCHEMA_DIR, f), 'utf8'));
}

/** Every domain's resolvers, registered in one list. */
const domainResolvers = [
  systemResolvers,
  customerResolvers,
  interactionResolvers,
  segmentResolvers,
  insightResolvers,
  userResolvers,
  auditResolvers,
  campaignResolvers,
  automationResolvers,
  webhookResolvers,
  analyticsResolvers,
];

/** The executable schema, its cursors sealed for clients (auth is applied on top of it). */
export function buildSchema(): GraphQLSchema {
  return sealCursors(
    makeExecutableSchema({
      typeDefs: readTypeDefs(),
      resolvers: [{ DateTime: DateTimeResolver }, ...domainResolvers],
      inheritResolversFromInterfaces: true,
    }),
  );
}
