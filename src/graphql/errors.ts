import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailableError } from '../db/health.js';

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
  /** An `after` cursor older than the event log keeps; `extensions.oldestCursor` replays what is kept. */
  CursorExpired: 'CURSOR_EXPIRED',
  /** The database does not answer right now; the same request may be sent again shortly. */
  DatabaseUnavailable: 'DATABASE_UNAVAILABLE',
  Internal: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CLIENT_VISIBLE = new Set<string>(Object.values(ErrorCode).filter((c) => c !== ErrorCode.Internal));

export function userInputError(message: string, argument?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput, ...(argument ? { argument } : {}) } });
}

/**
 * Retention removed events after the client's `after`: never a silent gap. `oldestCursor` (sealed
 * like every event cursor) replays from the oldest event kept.
 */
export function cursorExpiredError(oldestCursor: string): GraphQLError {
  return new GraphQLError(
    'The events after this cursor are older than the event log keeps; subscribe again with `after: oldestCursor` ' +
      'to receive every event still kept.',
    { extensions: { code: ErrorCode.CursorExpired, argument: 'after', oldestCursor } },
  );
}

/** Seconds a client is asked to wait before retrying while the database is away. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

const DATABASE_UNAVAILABLE_MESSAGE = 'The database is unavailable right now; retry shortly.';

/**
 * The answer to an operation while the database is away: fast and retryable. `forApollo` adds
 * the 503 status and Retry-After header that Apollo reads from `extensions.http` (and leaves
 * out of the body).
 */
export function databaseUnavailableError(opts: { forApollo?: boolean } = {}): GraphQLError {
  return new GraphQLError(DATABASE_UNAVAILABLE_MESSAGE, {
    extensions: {
      code: ErrorCode.DatabaseUnavailable,
      retryable: true,
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
      ...(opts.forApollo
        ? { http: { status: 503, headers: new Map([['retry-after', String(DATABASE_RETRY_AFTER_SECONDS)]]) } }
        : {}),
    },
  });
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
  // A resolver's call that failed because the database went away is not a bug: say so.
  if (isDatabaseUnavailableError(original instanceof GraphQLError ? original.originalError : original)) {
    return {
      message: DATABASE_UNAVAILABLE_MESSAGE,
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: {
        code: ErrorCode.DatabaseUnavailable,
        retryable: true,
        retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
      },
    };
  }
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
