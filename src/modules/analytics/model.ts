import mongoose, { Schema, type Types } from 'mongoose';
import { storedCollection } from '../../db/collections.js';
import type { Segment } from '../../shared/segment-policy.js';
import type { Channel } from '../interactions/index.js';

/** What every counter document has: its key and the guards that make its increments once-only. */
export type CounterDoc = { _id: string; lastSeq?: number; rebuildStep?: number };

/** The counters one day (or one slice of it) carries. */
export type Counters = {
  revenueMinor: number;
  purchases: number;
  interactions: number;
  complaints: number;
  newCustomers: number;
};

/**
 * One UTC day of counters (`_id` = `YYYY-MM-DD`, prefixed by its epoch: see epochs.ts): totals,
 * per channel and per segment, and the segment moves. `lastSeq` makes the consumer's update
 * exactly-once: events arrive in log order, so an event at or below it was counted already.
 * `rebuildStep` does the same for a rebuild's flushes.
 */
export type KpiDayDoc = CounterDoc & {
  all?: Partial<Counters>;
  byChannel?: Partial<Record<Channel, Partial<Counters>>>;
  bySegment?: Partial<Record<Segment, Partial<Counters>>>;
  flows?: Record<string, number>;
};

export const KpiDay = mongoose.model<KpiDayDoc>(
  'KpiDay',
  new Schema<KpiDayDoc>({ _id: String, lastSeq: Number }, { versionKey: false, collection: 'kpi_days', strict: false }),
);

export const kpiDays = storedCollection(KpiDay);

/**
 * Cohorts by join month (`_id` = `YYYY-MM`, prefixed by its epoch), their size, and per later
 * month how many of their customers were active (a customer counts once per month: a unique
 * mark decides).
 */
export type CohortDoc = CounterDoc & {
  size?: number;
  active?: Record<string, number>;
};

export const Cohort = mongoose.model<CohortDoc>(
  'Cohort',
  new Schema<CohortDoc>({ _id: String }, { versionKey: false, collection: 'kpi_cohorts', strict: false }),
);

export const cohorts = storedCollection(Cohort);

/** A fact counted once: `_id` names the fact, `seq` the event that counted it (0: a rebuild). */
export type CountMarkDoc = { _id: string; seq: number };

export const CountMark = mongoose.model<CountMarkDoc>(
  'CountMark',
  new Schema<CountMarkDoc>({ _id: String, seq: Number }, { versionKey: false, collection: 'kpi_marks' }),
);

export const countMarks = storedCollection(CountMark);

/** A generation of the counters, and the cutoff of the rebuild that made it (null: epoch 0). */
export type EpochRef = { epoch: number; cutoff: Date | null };

/** A rebuild in progress or finished (see epochs.ts for what makes it exact). */
export type RebuildDoc = {
  epoch: number;
  cutoff: Date;
  startedAt: Date;
  finishedAt: Date | null;
  /**
   * A flush after this many customers or interactions, fixed for the whole rebuild: a flush
   * written again after a crash must hold exactly the facts it held the first time.
   */
  chunkCustomers: number;
  chunkInteractions: number;
  /** Flushes written and checkpointed; the next flush is `step + 1`. */
  step: number;
  /** The last customer whose facts are in the flushed steps (the cursors resume after it). */
  afterCustomerId: Types.ObjectId | null;
  customersDone: number;
  customersTotal: number;
  interactionsCounted: number;
  leaseOwner: string | null;
  leaseUntil: Date;
};

/** Which epoch the dashboard reads, the rebuild in progress and the last one finished. */
export type AnalyticsStateDoc = {
  _id: string;
  live: EpochRef;
  rebuild: RebuildDoc | null;
  lastRebuild: RebuildDoc | null;
};

export const AnalyticsState = mongoose.model<AnalyticsStateDoc>(
  'AnalyticsState',
  new Schema<AnalyticsStateDoc>({ _id: String }, { versionKey: false, collection: 'kpi_state', strict: false }),
);

/** The `_id` of the one analytics state document. */
export const STATE_ID = 'analytics';
