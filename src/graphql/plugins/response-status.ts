import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from '../context.js';
import { ErrorCode } from '../errors.js';

/** Errors of a well-formed request whose document or variables are wrong. */
const DOCUMENT_ERRORS = new Set<unknown>([ErrorCode.ParseFailed, ErrorCode.ValidationFailed, ErrorCode.BadUserInput]);

/**
 * GraphQL over HTTP: a client that accepts only `application/json` gets 200 for a request that
 * fails to parse, validate or coerce its variables, as the spec asks for that media type (the
 * errors are in the body); `application/graphql-response+json` keeps Apollo's 4xx statuses.
 */
export function graphqlResponseStatusPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ request }) {
      const accept = request.http?.headers.get('accept') ?? '';
      if (accept.includes('application/graphql-response+json')) return;
      return {
        async willSendResponse({ response }) {
          if (response.http.status !== 400 || response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors ?? [];
          if (errors.length && errors.every((e) => DOCUMENT_ERRORS.has(e.extensions?.code))) response.http.status = 200;
        },
      };
    },
  };
}
