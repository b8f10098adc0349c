import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, Kind, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
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
  // Apollo hands the same parsed document for the same query text, so what depends on the
  // document alone is checked once per document; the cost too when no variable can change it.
  let checked = checkedDocuments.get(document);
  if (!checked) {
    checked = {
      shapeErrors: shapeErrors(schema, document),
      costByOperation: new Map(),
      hasVariables: document.definitions.some(
        (d) => d.kind === Kind.OPERATION_DEFINITION && Boolean(d.variableDefinitions?.length),
      ),
    };
    checkedDocuments.set(document, checked);
  }
  // Fresh errors each time (the pipeline may decorate the ones it is given).
  if (checked.shapeErrors.length) return checked.shapeErrors.map(tooComplex);
  if (checked.hasVariables) return costErrors(schema, document, variables, operationName).map(tooComplex);
  const key = operationName ?? '';
  let problems = checked.costByOperation.get(key);
  if (!problems) {
    problems = costErrors(schema, document, undefined, operationName);
    checked.costByOperation.set(key, problems);
  }
  return problems.map(tooComplex);
}

const checkedDocuments = new WeakMap<
  DocumentNode,
  { shapeErrors: string[]; costByOperation: Map<string, string[]>; hasVariables: boolean }
>();

/** What makes the document too deep or too wide, as messages. */
function shapeErrors(schema: GraphQLSchema, document: DocumentNode): string[] {
  const rejected: GraphQLError[] = [];
  const collect = { propagateOnRejection: false, onReject: [(_ctx: unknown, err: GraphQLError) => rejected.push(err)] };
  validate(schema, document, [
    maxDepthRule({ n: LIMITS.depth, ...collect }),
    maxAliasesRule({ n: LIMITS.aliases, ...collect }),
    maxDirectivesRule({ n: LIMITS.directives, ...collect }),
  ]);
  return rejected.map((e) => e.message.replace(/^Syntax Error: /, ''));
}

function costErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): string[] {
  try {
    const cost = getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      ...(operationName ? { operationName } : {}),
      estimators: [pageSizeEstimator, simpleEstimator({ defaultComplexity: 1 })],
    });
    if (cost > LIMITS.cost)
      return [`Query cost ${cost} exceeds the limit of ${LIMITS.cost}; ask for smaller pages or fewer fields.`];
  } catch (err) {
    // Invalid variables and the like: validation and execution report those properly.
    void err;
  }
  return [];
}
