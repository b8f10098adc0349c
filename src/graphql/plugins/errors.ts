import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/**
 * Unexpected errors were masked by `maskError` (in formatError); here, where the request is
 * known, the original goes to the log with the request id, and every error sent back
 * carries that id so a user's report can be matched to the log line.
 */
export function errorReportingPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          for (const error of errors) {
            const code = error.extensions?.code;
            if (code === undefined || code === ErrorCode.Internal) {
              contextValue.logger.error(
                { err: error.originalError ?? error, path: error.path, operationName },
                'unexpected GraphQL error',
              );
            }
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          if (!errors) return;
          response.body.singleResult.errors = errors.map((e) => ({
            ...e,
            extensions: { ...e.extensions, requestId: contextValue.requestId },
          }));
        },
      };
    },
  };
}
