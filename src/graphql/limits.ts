import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import { pageSize } from '../db/pagination.js';
import { MAX_PAGE_SIZE } from '../shared/cursors.js';
import { ErrorCode } from './errors.js';

/** What one operation may ask for. The README lists them. */
export const LIMITS = {
  depth: 10,
  aliases: 30,
  directives: 20,
  /**
   * Each field costs 1; a field with `first` costs its children times `first`, or times the
   * largest page (100) when `first` is not given and has no default.
   */
  cost: 10_000,
} as const;

/**
 * A connection's cost is what it may return: its selection times `first` (the page size it
 * will really serve, capped like the services cap it). A field that takes `first` but was not
 * given one (and has no default, or was given null) may serve a full page, whatever its
 * resolver's own default: it costs the largest one.
 */
const pageSizeEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (!field.args.some((a) => a.name === 'first')) return undefined;
  const size = typeof args.first === 'number' ? pageSize(args.first) : MAX_PAGE_SIZE;
  return 1 + childComplexity * size;
};

function tooComplex(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.QueryTooComplex, http: { status: 400 } } });
}

/**
 * The problems that make an operation too costly or too deep to run, as QUERY_TOO_COMPLEX
 * errors; empty when it may run. Used before execution over HTTP and over WebSocket alike.
 */
export function operationLimitErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): GraphQLError[] {
  const rejected: GraphQLError[] = [];
  const collect = { propagateOnRejection: false, onReject: [(_ctx: unknown, err: GraphQLError) => rejected.push(err)] };
  validate(schema, document, [
    maxDepthRule({ n: LIMITS.depth, ...collect }),
    maxAliasesRule({ n: LIMITS.aliases, ...collect }),
    maxDirectivesRule({ n: LIMITS.directives, ...collect }),
  ]);
  if (rejected.length) return rejected.map((e) => tooComplex(e.message.replace(/^Syntax Error: /, '')));
  try {
    const cost = getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      ...(operationName ? { operationName } : {}),
      estimators: [pageSizeEstimator, simpleEstimator({ defaultComplexity: 1 })],
    });
    if (cost > LIMITS.cost)
      return [
        tooComplex(`Query cost ${cost} exceeds the limit of ${LIMITS.cost}; ask for smaller pages or fewer fields.`),
      ];
  } catch (err) {
    // Invalid variables and the like: validation and execution report those properly.
    void err;
  }
  return [];
}
