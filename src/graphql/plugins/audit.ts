import type { ApolloServerPlugin } from '@apollo/server';
import { recordMutationAudit } from '../audit.js';
import type { GraphQLContext } from '../context.js';

/** Every mutation over HTTP leaves an audit entry (the WebSocket path records in ws.ts). */
export function auditPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, operationName, response, contextValue }) {
          if (operation?.operation !== 'mutation' || response.body.kind !== 'single') return;
          await recordMutationAudit(contextValue, operationName, response.body.singleResult, 'HTTP');
        },
      };
    },
  };
}
