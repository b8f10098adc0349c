import mongoose, { Schema, Types } from 'mongoose';
import { streamCustomers } from '../customers/index.js';
import { SEGMENT_CHANGE_REASONS, SegmentChange, type SegmentChangeDoc, type SegmentChangeReason } from './model.js';
import type { SegmentMove } from './service.js';

/** Customers read at once when a crashed run's moves are looked for. */
const READ_BATCH = 500;

/**
 * The write-ahead journal of a sweep's (or a policy re-evaluation's) moves. A run writes the
 * segments of a whole buffer of movers first and records their history and events after: the
 * event-log consumers then start on the moves once they are all written, instead of competing
 * with the writes for the embedded engine's one writer. An entry names the customers about to
 * move and is removed once their moves are recorded; one left by a crash is finished by the
 * next run (see `unrecordedMoves`), so no move written goes unrecorded.
 */
export type PendingSegmentMovesDoc = {
  _id: Types.ObjectId;
  reason: SegmentChangeReason;
  customerIds: Types.ObjectId[];
  startedAt: Date;
};

export const PendingSegmentMoves = mongoose.model<PendingSegmentMovesDoc>(
  'PendingSegmentMoves',
  new Schema<PendingSegmentMovesDoc>(
    {
      reason: { type: String, enum: SEGMENT_CHANGE_REASONS, required: true },
      customerIds: { type: [Schema.Types.ObjectId], required: true },
      startedAt: { type: Date, required: true },
    },
    { versionKey: false, collection: 'pending_segment_moves' },
  ),
);

export async function journalMoves(
  customerIds: Types.ObjectId[],
  reason: SegmentChangeReason,
  now: Date,
): Promise<Types.ObjectId> {
  const _id = new Types.ObjectId();
  await PendingSegmentMoves.collection.insertOne({ _id, reason, customerIds, startedAt: now });
  return _id;
}

export async function clearMoves(id: Types.ObjectId): Promise<void> {
  await PendingSegmentMoves.deleteOne({ _id: id });
}

/** Entries started before `cutoff`: their run died (a live run removes its entry within minutes). */
export async function staleMoves(cutoff: Date): Promise<PendingSegmentMovesDoc[]> {
  return PendingSegmentMoves.find({ startedAt: mongoose.trusted({ $lt: cutoff }) }).lean<PendingSegmentMovesDoc[]>();
}

/**
 * The moves of an entry's customers that were written but not recorded: a customer whose
 * segment is not the one its latest history row moved it to. (A customer the run did not reach
 * still matches its history; the next sweep moves it.)
 */
export async function unrecordedMoves(entry: PendingSegmentMovesDoc): Promise<SegmentMove[]> {
  const moves: SegmentMove[] = [];
  for (let i = 0; i < entry.customerIds.length; i += READ_BATCH) {
    const ids = entry.customerIds.slice(i, i + READ_BATCH);
    for await (const customer of streamCustomers({ _id: mongoose.trusted({ $in: ids }) })) {
      const latest = await SegmentChange.findOne({ customerId: customer._id })
        .sort({ changedAt: -1, _id: -1 })
        .lean<SegmentChangeDoc>();
      if (latest?.to === customer.segment) continue;
      moves.push({ customer, from: latest?.to ?? null, to: customer.segment, reason: entry.reason });
    }
  }
  return moves;
}
