import type { Model } from 'mongoose';
import type { Resolvers } from '../generated/graphql.js';

/**
 * What a domain tells the composition root about itself (its `index.ts` exports one): the
 * collections whose indexes it declares and the resolvers of its slice of the schema. Its
 * services, loaders, event consumers and jobs are wired in `domain.ts` and `jobs.ts`.
 */
export type DomainModule = {
  name: string;
  /** Models whose indexes are created before traffic (idempotent). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- models of any document shape
  indexedModels: ReadonlyArray<Model<any>>;
  resolvers: Resolvers;
};
