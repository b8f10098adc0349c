import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * The error codes a client may see. Anything else is unexpected: it is masked as
 * INTERNAL_SERVER_ERROR with the request id, and its details go only to the log.
 */
export const ErrorCode = {
  BadUserInput: 'BAD_USER_INPUT',
  ValidationFailed: 'GRAPHQL_VALIDATION_FAILED',
  ParseFailed: 'GRAPHQL_PARSE_FAILED',
  BadRequest: 'BAD_REQUEST',
  OperationResolutionFailure: 'OPERATION_RESOLUTION_FAILURE',
  PersistedQueryNotFound: 'PERSISTED_QUERY_NOT_FOUND',
  PersistedQueryNotSupported: 'PERSISTED_QUERY_NOT_SUPPORTED',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  QueryTooComplex: 'QUERY_TOO_COMPLEX',
  NotFound: 'NOT_FOUND',
  RateLimited: 'RATE_LIMITED',
  TooManySubscriptions: 'TOO_MANY_SUBSCRIPTIONS',
  Internal: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CLIENT_VISIBLE = new Set<string>(Object.values(ErrorCode).filter((c) => c !== ErrorCode.Internal));

export function userInputError(message: string, argument?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput, ...(argument ? { argument } : {}) } });
}

/** True when the error is one we meant the client to see. */
export function isClientVisible(error: Pick<GraphQLFormattedError, 'extensions'>): boolean {
  const code = error.extensions?.code;
  return typeof code === 'string' && CLIENT_VISIBLE.has(code);
}

/**
 * Errors that graphql-js raises for a bad request (unknown variables, wrong types) carry no
 * code and no original error; those are the client's fault and keep their message.
 */
function isRequestShapeError(formatted: GraphQLFormattedError, original: unknown): boolean {
  return (
    original instanceof GraphQLError && original.originalError === undefined && formatted.extensions?.code === undefined
  );
}

export function maskError(formatted: GraphQLFormattedError, original: unknown): GraphQLFormattedError {
  if (isClientVisible(formatted)) return formatted;
  if (isRequestShapeError(formatted, original)) {
    return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BadUserInput } };
  }
  return {
    message: 'Internal server error',
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: ErrorCode.Internal },
  };
}

/** maskError, plus (in production) no "Did you mean …?" hints that would reveal the schema. */
export function createErrorFormatter(opts: { isSuggestionsEnabled: boolean }) {
  return (formatted: GraphQLFormattedError, original: unknown): GraphQLFormattedError => {
    const masked = maskError(formatted, original);
    if (opts.isSuggestionsEnabled) return masked;
    return { ...masked, message: masked.message.replace(/ ?Did you mean .*\?$/, '') };
  };
}
