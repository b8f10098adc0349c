import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from '../context.js';
import { databaseUnavailableError } from '../errors.js';

/**
 * While the database is away, operations are refused at once with DATABASE_UNAVAILABLE (HTTP
 * 503, Retry-After) instead of each waiting for the driver's server selection to time out.
 */
export function databaseAvailabilityPlugin(isAvailable: () => boolean): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation() {
          if (!isAvailable()) throw databaseUnavailableError({ forApollo: true });
        },
      };
    },
  };
}
