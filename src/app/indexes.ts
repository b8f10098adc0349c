import { MODULES } from './modules.js';

/**
 * Creates every domain's declared indexes (idempotent). Every query on a hot path is shaped for
 * one of these, on MongoDB and on the embedded engine alike, which answers filters and sorts
 * from them (docs/EMBEDDED-ENGINE.md); test/query-plans.test.ts checks the hot reads' plans.
 */
export async function ensureIndexes(): Promise<void> {
  for (const module of MODULES) {
    for (const model of module.indexedModels) await model.createIndexes();
  }
}
