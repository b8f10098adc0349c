import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from '../context.js';
import { operationLimitErrors } from '../limits.js';

/** Refuses operations over the depth, alias, directive and cost limits, before they run. */
export function operationLimitsPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request, operationName }) {
          const [first] = operationLimitErrors(schema, document, request.variables, operationName ?? undefined);
          if (first) throw first;
        },
      };
    },
  };
}
