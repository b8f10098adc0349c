import { makeExecutableSchema } from '@graphql-tools/schema';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { sealCursors } from '../graphql/cursor-sealing.js';
import { readTypeDefs } from '../graphql/type-defs.js';
import { MODULES } from './modules.js';

/** The executable schema of every domain, its cursors sealed for clients (auth is applied on top). */
export function buildSchema(): GraphQLSchema {
  return sealCursors(
    makeExecutableSchema({
      typeDefs: readTypeDefs(),
      resolvers: [{ DateTime: DateTimeResolver }, ...MODULES.map((m) => m.resolvers)],
      inheritResolversFromInterfaces: true,
    }),
  );
}
