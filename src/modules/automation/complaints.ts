import mongoose, { type Types } from 'mongoose';
import { duplicateIndexesOf } from '../../db/errors.js';
import type { EventLog } from '../../events/log.js';
import type { EventDoc } from '../../events/model.js';
import { DAY_MS } from '../../shared/clock.js';
import { isPublishedAlert, raiseAlert } from './alerts.js';
import type { Automation } from './deps.js';
import { HOUR_MS, hourOf, startOfHour } from './hours.js';
import { ComplaintHour, ComplaintWindow } from './model.js';
import { allInOneBatch } from '../../db/collections.js';

const COMPLAINT_WINDOW_DAYS = 30;
const WEEK_HOURS = 168;
/** How far past the complaint handled the windows of the complaints held in memory are read. */
const WINDOWS_READ_AHEAD = 1_000;

/** One complaint as the rule consumer sees it: the event's seq and time, and when it happened. */
export type Complaint = { customerId: Types.ObjectId; seq: number; at: Date; occurredAt: Date };

/** A customer's recent complaints as kept: each event's seq and when the complaint happened. */
export type ComplaintsKept = Array<{ seq: number; at: Date }>;

/** The customer of a complaint event, or null for any other event. */
function complainantOf(event: EventDoc): Types.ObjectId | null {
  return event.type === 'INTERACTION_RECORDED' && event.payload.interaction.type === 'COMPLAINT'
    ? event.payload.customer._id
    : null;
}

/** A complaint hour as this book knows it: its count and last counted seq, and how many of them wait for `flush`. */
type KnownHour = { n: number; lastSeq: number; added: number; firstAdded: number };

/**
 * The rule consumer's complaint bookkeeping for a burst of events: each customer's recent
 * complaints (its window) and the count of each hour.
 *
 * Reads: the windows of the complaint handled and of the complaints this process holds after
 * it are read with one query, and an hour's count once, not one read per complaint.
 * Writes: a window or an hour moved by the burst waits in memory until `flush`, which the
 * consumer calls before it stores its position, and before the burst's runs are scheduled
 * (their steps may read the windows): a few commands for all of them, each guarded by the first
 * seq it adds — a window that already holds that complaint, or an hour whose last counted seq
 * is at or past it, was written by whoever handled these events already, and is left alone.
 * Only the rule consumer writes windows and hours, one process at a time. When the consumer
 * starts over (a seq not after the last one seen: a lost lease, a failed store), what was read
 * and what waits are forgotten: the events are handled again.
 */
export type ComplaintBook = {
  /** Notes a complaint (idempotent by seq): the customer's complaints and its hour's count after it. */
  note(c: Complaint): Promise<{ kept: ComplaintsKept; hourCount: number }>;
  /** The count of an hour this book knows (read or counted since), else undefined. */
  countOf(hourId: string): number | undefined;
  /** Writes the windows and hours that moved. */
  flush(): Promise<void>;
};

export function createComplaintBook(events: Pick<EventLog, 'heldAfter'>): ComplaintBook {
  /** The windows of the burst as this book knows them: as read, with what it noted since. */
  let windows = new Map<string, ComplaintsKept>();
  let readUpTo = 0;
  let lastSeen = 0;
  /** Windows noted and not written yet, by customer: its id and the first seq added. */
  let movedWindows = new Map<string, { customerId: Types.ObjectId; firstAdded: number }>();
  /** Customers whose window is stored: read since the last read of windows, or written since. */
  let storedWindows = new Set<string>();
  let hours = new Map<string, KnownHour>();

  async function windowOf(c: Complaint): Promise<ComplaintsKept> {
    const key = String(c.customerId);
    if (c.seq > readUpTo) {
      const held = events.heldAfter(c.seq, c.seq + WINDOWS_READ_AHEAD);
      const ids = [c.customerId, ...held.flatMap((e) => complainantOf(e) ?? [])];
      const read = await ComplaintWindow.find({ _id: mongoose.trusted({ $in: ids }) })
        .batchSize(allInOneBatch(ids.length))
        .lean();
      const next = new Map<string, ComplaintsKept>(ids.map((id) => [String(id), []]));
      for (const w of read) next.set(String(w._id), w.complaints);
      storedWindows = new Set(read.map((w) => String(w._id)));
      // What waits for `flush` is newer than what was read.
      for (const id of movedWindows.keys()) next.set(id, windows.get(id)!);
      windows = next;
      readUpTo = held.at(-1)?.seq ?? c.seq;
    }
    return windows.get(key) ?? (await ComplaintWindow.findById(c.customerId).lean())?.complaints ?? [];
  }

  async function hourOfComplaint(c: Complaint): Promise<KnownHour> {
    const id = hourOf(c.at);
    let hour = hours.get(id);
    if (!hour) {
      const stored = await ComplaintHour.findById(id).lean();
      hour = { n: stored?.n ?? 0, lastSeq: stored?.lastSeq ?? 0, added: 0, firstAdded: 0 };
      hours.set(id, hour);
    }
    return hour;
  }

  return {
    async note(c) {
      if (c.seq <= lastSeen) {
        windows = new Map();
        readUpTo = 0;
        movedWindows = new Map();
        storedWindows = new Set();
        hours = new Map();
      }
      lastSeen = c.seq;
      let kept = await windowOf(c);
      if (!kept.some((k) => k.seq === c.seq)) {
        const since = c.at.getTime() - COMPLAINT_WINDOW_DAYS * DAY_MS;
        kept = [...kept.filter((k) => k.at.getTime() > since), { seq: c.seq, at: c.occurredAt }];
        const key = String(c.customerId);
        windows.set(key, kept);
        movedWindows.set(key, { customerId: c.customerId, firstAdded: movedWindows.get(key)?.firstAdded ?? c.seq });
      }
      // The hour's count moves once per event: its last counted seq is the guard.
      const hour = await hourOfComplaint(c);
      if (c.seq > hour.lastSeq) {
        hour.n++;
        hour.lastSeq = c.seq;
        if (!hour.added++) hour.firstAdded = c.seq;
      }
      return { kept, hourCount: hour.n };
    },

    countOf: (hourId) => hours.get(hourId)?.n,

    async flush() {
      const moved = [...movedWindows].map(([key, w]) => ({ ...w, kept: windows.get(key)! }));
      const counted = [...hours].filter(([, h]) => h.added > 0).map(([id, h]) => [id, { ...h }] as const);
      if (!moved.length && !counted.length) return;
      // What is noted from here on waits for the next flush (a failed write starts the consumer
      // over, which resets the book).
      movedWindows = new Map();
      for (const [id] of counted) hours.get(id)!.added = 0;
      await Promise.all([
        moved.length &&
          writeWindows(moved, {
            // The set as it is when asked: a read during the write replaces it.
            has: (id) => storedWindows.has(id),
            add: (id) => void storedWindows.add(id),
          }),
        counted.length &&
          writeGuarded(
            ComplaintHour.collection,
            counted.map(([id, h]) => ({
              filter: { _id: id, ...notWrittenFrom('lastSeq', h.firstAdded) },
              update: { $inc: { n: h.added }, $set: { lastSeq: h.lastSeq } },
            })),
          ),
      ]);
      // Hours long past are not asked about again (an event's hour is its time's).
      for (const id of [...hours.keys()].slice(0, Math.max(0, hours.size - 48))) hours.delete(id);
    },
  };
}

/** The guard of a write: nothing at `path` is at or past `seq` (who wrote past it handled these events). */
const notWrittenFrom = (path: string, seq: number) => ({ [path]: { $not: { $gte: seq } } });

type MovedWindow = { customerId: Types.ObjectId; firstAdded: number; kept: ComplaintsKept };

/**
 * Writes the windows that moved, each guarded by the first seq it adds: those known to be stored
 * are updated and the others inserted, a command each (the engine writes a command's updates by
 * `_id` together, where an upsert is a write of its own: 50 new windows took 40–70 ms as
 * upserts). A window inserted meanwhile by someone else, or an update that matched fewer than it
 * was sent (written past its guard already, or gone), goes through the guarded upsert.
 */
async function writeWindows(
  moved: MovedWindow[],
  stored: { has(id: string): boolean; add(id: string): void },
): Promise<void> {
  const guarded = (w: MovedWindow) => ({
    filter: { _id: w.customerId, ...notWrittenFrom('complaints.seq', w.firstAdded) },
    update: { $set: { complaints: w.kept } },
  });
  const known = moved.filter((w) => stored.has(String(w.customerId)));
  const fresh = moved.filter((w) => !stored.has(String(w.customerId)));
  const again: MovedWindow[] = [];
  if (fresh.length) {
    try {
      await ComplaintWindow.collection.insertMany(
        fresh.map((w) => ({ _id: w.customerId, complaints: w.kept })),
        { ordered: false },
      );
    } catch (err) {
      const duplicates = duplicateIndexesOf(err);
      if (!duplicates) throw err;
      again.push(...duplicates.map((i) => fresh[i]!));
    }
  }
  if (known.length) {
    const updated = await ComplaintWindow.collection.bulkWrite(
      known.map((w) => ({ updateOne: guarded(w) })),
      { ordered: false },
    );
    if (updated.matchedCount < known.length) again.push(...known);
  }
  if (again.length) await writeGuarded(ComplaintWindow.collection, again.map(guarded));
  for (const w of moved) stored.add(String(w.customerId));
}

/**
 * Upserts in one unordered command; an upsert that finds its document but not its guard fails
 * as a duplicate key: someone wrote it past the guard already, and it is left as it is.
 */
async function writeGuarded(
  collection: mongoose.mongo.Collection,
  writes: Array<{ filter: Record<string, unknown>; update: Record<string, unknown> }>,
): Promise<void> {
  try {
    await collection.bulkWrite(
      writes.map((w) => ({ updateOne: { filter: w.filter, update: w.update, upsert: true } })),
      { ordered: false },
    );
  } catch (err) {
    if (!duplicateIndexesOf(err)) throw err;
  }
}

/**
 * Keeps a customer's recent complaints (idempotent by seq) and the hourly complaint counts;
 * returns the customer's complaints as kept now (what `complaintsInWeek` reads once written).
 */
export async function noteComplaint(
  deps: Pick<Automation, 'clock' | 'events' | 'settings' | 'publishedAlerts' | 'complaints'>,
  c: Complaint,
): Promise<ComplaintsKept> {
  const { kept, hourCount } = await deps.complaints.note(c);
  await checkComplaintAnomaly(deps, c.at, hourCount);
  return kept;
}

/** Complaints in the event's hour above `factor` × their hourly average over the 7 days before. */
async function checkComplaintAnomaly(
  deps: Pick<Automation, 'clock' | 'events' | 'settings' | 'publishedAlerts' | 'complaints'>,
  at: Date,
  current: number,
) {
  const { settings } = deps;
  const hourStart = startOfHour(at);
  if (current < settings.anomalyMinComplaints) return;
  // Raised and published for this hour already (an alert is raised once): nothing to compute.
  const alertId = `anomaly:complaints:${hourOf(at)}`;
  if (await isPublishedAlert(deps, alertId)) return;
  // One read of the week's hours by `_id` (an index look-up each), not 168 round trips: this
  // runs for every complaint once an hour has enough of them.
  const hours = Array.from({ length: WEEK_HOURS }, (_, i) => new Date(hourStart - (i + 1) * HOUR_MS).toISOString());
  const stored = await ComplaintHour.find({ _id: mongoose.trusted({ $in: hours }) })
    .batchSize(allInOneBatch(hours.length))
    .lean();
  // An hour counted in this burst and not written yet counts as the book has it.
  const counts = new Map(stored.map((h) => [h._id, h.n]));
  for (const id of hours) {
    const known = deps.complaints.countOf(id);
    if (known !== undefined) counts.set(id, known);
  }
  const average = [...counts.values()].reduce((sum, n) => sum + n, 0) / WEEK_HOURS;
  if (current <= settings.anomalyFactor * average) return;
  await raiseAlert(deps, {
    _id: alertId,
    title: `Complaint volume: ${current} this hour, ${settings.anomalyFactor}× above the 7-day hourly average (${average.toFixed(2)})`,
    severity: 'CRITICAL',
    departments: ['SUPPORT'],
    kind: 'ANOMALY',
    raisedAt: deps.clock.now(),
  });
}

/** How many complaints a customer filed in the 7 days up to `at` (and up to event `uptoSeq`, when given). */
export async function complaintsInWeek(customerId: Types.ObjectId, at: Date, uptoSeq?: number): Promise<number> {
  const window = await ComplaintWindow.findById(customerId).lean();
  return complaintsInWeekAmong(window?.complaints ?? [], at, uptoSeq);
}

/** `complaintsInWeek` for several customers in one read, in their order (a DataLoader's batch). */
export async function complaintsInWeekOf(customerIds: Types.ObjectId[], at: Date): Promise<number[]> {
  const windows = customerIds.length
    ? await ComplaintWindow.find({ _id: mongoose.trusted({ $in: customerIds }) })
        .batchSize(allInOneBatch(customerIds.length))
        .lean()
    : [];
  const byCustomer = new Map(windows.map((w) => [String(w._id), w.complaints]));
  return customerIds.map((id) => complaintsInWeekAmong(byCustomer.get(String(id)) ?? [], at));
}

/** `complaintsInWeek` over complaints already read (as `noteComplaint` keeps them). */
export function complaintsInWeekAmong(complaints: ComplaintsKept, at: Date, uptoSeq?: number): number {
  const from = at.getTime() - 7 * DAY_MS;
  return complaints.filter(
    (c) => c.at.getTime() > from && c.at.getTime() <= at.getTime() && (uptoSeq === undefined || c.seq <= uptoSeq),
  ).length;
}

/** Every customer's recent complaints, by customer id: one read for a pass over all customers. */
export async function complaintWindows(): Promise<Map<string, Array<{ seq: number; at: Date }>>> {
  return new Map((await ComplaintWindow.find({}).lean()).map((w) => [String(w._id), w.complaints]));
}
