import { MapperKind, mapSchema } from '@graphql-tools/utils';
import { defaultFieldResolver, getNamedType, type GraphQLFieldConfig, type GraphQLSchema } from 'graphql';
import type { Page } from '../db/pagination.js';
import type { GraphQLContext } from './context.js';
import { userInputError } from './errors.js';

/** The list every event cursor belongs to: one sequence, whichever subscription handed it out. */
/** The list name event cursors are sealed under. */
export const EVENT_CURSOR_LIST = 'events';

type Args = Record<string, unknown>;
type FieldConfig = GraphQLFieldConfig<unknown, GraphQLContext, Args>;

/**
 * A connection's cursors belong to the field that lists them and to its order: a cursor of
 * `customers` ordered by name is refused by `customers` ordered by join date.
 */
function listOf(typeName: string, fieldName: string, args: Args): string {
  return args.orderBy == null ? `${typeName}.${fieldName}` : `${typeName}.${fieldName}:${JSON.stringify(args.orderBy)}`;
}

/** The arguments with `after` opened; an empty `after` goes on as it came (the services ignore it). */
function withOpenedAfter(args: Args, list: string, ctx: GraphQLContext, refusal: string): Args {
  if (typeof args.after !== 'string' || args.after === '') return args;
  const after = ctx.domain.cursors.open(args.after, list);
  if (after === null) throw userInputError(refusal, 'after');
  return { ...args, after };
}

/** The page with each item's cursor sealed when it is first read (most queries read none). */
function sealedPage(page: unknown, list: string, ctx: GraphQLContext): Page<unknown> {
  const items = (page as Partial<Page<unknown>> | null)?.items;
  // A connection resolver that returned something else would hand out unsealed cursors.
  if (!Array.isArray(items)) throw new Error(`connection ${list} did not resolve to a page`);
  return {
    ...(page as Page<unknown>),
    items: items.map((item) => {
      let sealed: string | undefined;
      return {
        ...item,
        get cursor() {
          return (sealed ??= ctx.domain.cursors.seal(item.cursor, list));
        },
      };
    }),
  };
}

const isConnection = (field: FieldConfig) => getNamedType(field.type).name.endsWith('Connection');

function sealConnection(field: FieldConfig, typeName: string, fieldName: string): FieldConfig {
  const { resolve = defaultFieldResolver } = field;
  return {
    ...field,
    resolve: async (source, args, ctx, info) => {
      const list = listOf(typeName, fieldName, args);
      const page = await resolve(source, withOpenedAfter(args, list, ctx, 'not a cursor from this list'), ctx, info);
      return sealedPage(page, list, ctx);
    },
  };
}

function openEventCursor(field: FieldConfig): FieldConfig {
  const { subscribe } = field;
  if (!subscribe) return field;
  return {
    ...field,
    subscribe: (source, args, ctx, info) =>
      subscribe(
        source,
        withOpenedAfter(args, EVENT_CURSOR_LIST, ctx, 'after is not a cursor from an event'),
        ctx,
        info,
      ),
  };
}

function sealEventCursor(field: FieldConfig): FieldConfig {
  const { resolve = defaultFieldResolver } = field;
  return {
    ...field,
    resolve: async (source, args, ctx, info) => {
      const cursor: unknown = await resolve(source, args, ctx, info);
      return typeof cursor === 'string' ? ctx.domain.cursors.seal(cursor, EVENT_CURSOR_LIST) : cursor;
    },
  };
}

/**
 * Every cursor leaves the API sealed (see CursorSealer) and every `after` is opened before a
 * resolver sees it, so resolvers and services keep speaking plain cursors and no client can read
 * a sort value (a purchase total, say) out of one or forge one. Found by shape, so a new list
 * is covered without a line here:
 * - a field returning a `…Connection`: its page's cursors (edges and pageInfo), and its `after`;
 * - a subscription's `after`, and every other type's `cursor` field: event cursors.
 * Anything else taking `after` fails the schema build, rather than reach a resolver unopened.
 */
export function sealCursors(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => {
      const config = field as FieldConfig;
      if (isConnection(config)) {
        if (!config.args?.after) throw new Error(`${typeName}.${fieldName} lists a connection without \`after\``);
        return sealConnection(config, typeName, fieldName);
      }
      if (typeName === schema.getSubscriptionType()?.name) return config.args?.after ? openEventCursor(config) : field;
      if (config.args?.after) throw new Error(`${typeName}.${fieldName} takes \`after\` but lists no connection`);
      if (fieldName === 'cursor' && !typeName.endsWith('Edge')) return sealEventCursor(config);
      return field;
    },
  });
}
