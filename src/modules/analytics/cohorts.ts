import { monthKey } from './counting.js';
import { epochId, readAnalyticsState } from './epochs.js';
import { Cohort, type CohortDoc } from './model.js';

export type CohortRetention = { month: string; customers: number; retention: number[] };

/** Retention of the cohorts that joined in the `months` months up to `to`: share active per month since joining. */
export async function readCohorts(to: Date, months: number): Promise<CohortRetention[]> {
  const keys = Array.from({ length: months }, (_, i) =>
    monthKey(new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - (months - 1 - i), 1))),
  );
  const { epoch } = (await readAnalyticsState()).live;
  const docs = await Promise.all(keys.map((k) => Cohort.findById(epochId(epoch, k)).lean<CohortDoc>()));
  return keys.map((month, i) => {
    const doc = docs[i];
    const size = doc?.size ?? 0;
    const retention = keys.slice(i).map((later) => (size > 0 ? (doc?.active?.[later] ?? 0) / size : 0));
    return { month, customers: size, retention };
  });
}
