/**
 * The analytics consumer's counting, exactly once: a day's increments wait in memory until the
 * consumer flushes them before it stores its position, and are then written with one guarded
 * update per day. Replays after a crash or a lost lease, a late flush from a process that lost
 * its lease, and a flush that finds some of its events counted already must all leave each
 * event counted once.
 */
import { describe, expect, it } from '@jest/globals';
import { Types } from 'mongoose';
import type { EventDoc } from '../src/events/model.js';
import { createEventCounter } from '../src/modules/analytics/counting.js';
import { Cohort, KpiDay } from '../src/modules/analytics/model.js';
import { useTestServer } from './helpers/server.js';

const DAY = '2031-01-07';

/** A log entry of `seq`, as the log hands it to the consumer. */
function logged(seq: number, type: string, at: Date, payload: object): EventDoc {
  return { _id: String(seq).padStart(15, '0'), seq, type, at, payload } as unknown as EventDoc;
}

/** An interaction of `type` by `customerId` at `at`, the customer joined at `joinedAt`. */
function interaction(
  seq: number,
  customerId: Types.ObjectId,
  type: 'INQUIRY' | 'PURCHASE',
  at: Date,
  joinedAt: Date,
): EventDoc {
  return logged(seq, 'INTERACTION_RECORDED', at, {
    interaction: { _id: `i${seq}`, customerId, type, channel: 'WEB', occurredAt: at, recordedAt: at },
    customer: { _id: customerId, segment: 'NEW', joinedAt, createdAt: joinedAt },
  });
}

/** An interaction event of `seq` on DAY: one web inquiry by the same customer. */
function inquiry(seq: number): EventDoc {
  const at = new Date(`${DAY}T10:00:00.000Z`);
  return interaction(seq, new Types.ObjectId('6a0000000000000000000001'), 'INQUIRY', at, at);
}

const JOINED = new Date('2031-01-03T09:00:00.000Z');

/** A customer's creation (seq) in January 2031, as the segments domain appends it. */
function created(seq: number, customerId: Types.ObjectId): EventDoc {
  return logged(seq, 'SEGMENT_CHANGED', JOINED, {
    customer: { _id: customerId, segment: 'NEW', joinedAt: JOINED, createdAt: JOINED },
    from: null,
    to: 'NEW',
    changedAt: JOINED,
    reason: 'CREATED',
  });
}

/** One purchase by `customerId` on `day`, the customer created by `created`. */
function purchase(seq: number, customerId: Types.ObjectId, day: string): EventDoc {
  return interaction(seq, customerId, 'PURCHASE', new Date(`${day}T12:00:00.000Z`), JOINED);
}

async function interactionsOnDay(): Promise<{ count: number; lastSeq: number | undefined }> {
  const doc = (await KpiDay.findById(DAY).lean()) as { all?: { interactions?: number }; lastSeq?: number } | null;
  return { count: doc?.all?.interactions ?? 0, lastSeq: doc?.lastSeq };
}

async function count(counter: ReturnType<typeof createEventCounter>, seqs: number[]): Promise<void> {
  for (const seq of seqs) await counter.countEvent(inquiry(seq));
}

describe('analytics counting', () => {
  useTestServer();
  // Every event of these tests is known to the log already: the state is read once per burst.
  const logPosition = () => Number.MAX_SAFE_INTEGER;

  it('counts each event once through flushes, replays, late flushes and partial repeats', async () => {
    const first = createEventCounter({ logPosition });
    await count(first, [1, 2, 3]);
    expect(await interactionsOnDay()).toEqual({ count: 0, lastSeq: undefined }); // not flushed yet
    await first.flush();
    expect(await interactionsOnDay()).toEqual({ count: 3, lastSeq: 3 });

    // The consumer starts over from an older position: the repeats are skipped, the new counted.
    await count(first, [2, 3, 4]);
    await first.flush();
    expect(await interactionsOnDay()).toEqual({ count: 4, lastSeq: 4 });

    // A process counts 5 and 6 and dies before its flush; another counts 5 to 7 and flushes;
    // then the first, which only lost its lease, flushes what it held, late.
    const lost = createEventCounter({ logPosition });
    await count(lost, [5, 6]);
    const taker = createEventCounter({ logPosition });
    await count(taker, [5, 6, 7]);
    await taker.flush();
    await lost.flush();
    expect(await interactionsOnDay()).toEqual({ count: 7, lastSeq: 7 });

    // A flush whose first events were counted already: only the rest counts.
    const behind = createEventCounter({ logPosition });
    await count(behind, [6, 7, 8, 9]);
    await behind.flush();
    expect(await interactionsOnDay()).toEqual({ count: 9, lastSeq: 9 });
  });

  it('counts cohorts the same when the marks of a burst are read at once', async () => {
    const joined = new Types.ObjectId();
    const unknown = new Types.ObjectId(); // created before analytics counted: in no cohort
    const burst = [
      created(101, joined),
      purchase(102, joined, '2031-01-20'),
      purchase(103, unknown, '2031-01-21'),
      purchase(104, joined, '2031-01-22'), // a repeat for January
      purchase(105, joined, '2031-02-02'),
      created(106, unknown), // created after its interaction: counted from now on
      purchase(107, unknown, '2031-02-03'),
    ];
    const heldAfter = (afterSeq: number, toSeq: number) => burst.filter((e) => e.seq > afterSeq && e.seq <= toSeq);
    const cohort = async () => {
      const doc = (await Cohort.findById('2031-01').lean()) as { size?: number; active?: object } | null;
      return { size: doc?.size, active: doc?.active };
    };

    const counter = createEventCounter({ logPosition, heldAfter });
    for (const event of burst) await counter.countEvent(event);
    await counter.flush();
    const expected = { size: 2, active: { '2031-01': 1, '2031-02': 2 } };
    expect(await cohort()).toEqual(expected);

    // Handled again by the same counter (it started over) and by another process: unchanged.
    for (const event of burst) await counter.countEvent(event);
    const other = createEventCounter({ logPosition, heldAfter });
    for (const event of burst) await other.countEvent(event);
    expect(await cohort()).toEqual(expected);
  });
});
