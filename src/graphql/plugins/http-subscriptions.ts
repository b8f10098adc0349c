import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { GraphQLContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/** Subscriptions stream over WebSocket; over plain HTTP they get a clear 400, not a masked 500. */
export function refuseHttpSubscriptionsPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError(
            'Subscriptions are served over WebSocket (graphql-ws protocol) at /graphql, not over HTTP.',
            {
              extensions: { code: ErrorCode.BadRequest, http: { status: 400 } },
            },
          );
        },
      };
    },
  };
}
