import mongoose, { type Types } from 'mongoose';
import { isDuplicateKeyError } from '../../db/errors.js';
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

/**
 * The complaint windows of a burst, read with one query: those of the complaint handled and of
 * the complaints this process holds after it, not one read per complaint. Only the rule consumer
 * writes the windows, one process at a time, and it records here each one it writes, so what was
 * read stays true for the burst. When the consumer starts over (a seq not after the last one
 * seen: a lost lease, a failed store), what was read is forgotten: another process may have
 * written since.
 */
export type ComplaintWindows = {
  keptOf(c: Complaint): Promise<ComplaintsKept>;
  wrote(customerId: Types.ObjectId, kept: ComplaintsKept): void;
};

export function createComplaintWindows(events: Pick<EventLog, 'heldAfter'>): ComplaintWindows {
  let known = new Map<string, ComplaintsKept>();
  let readUpTo = 0;
  let lastSeen = 0;
  return {
    async keptOf(c) {
      if (c.seq <= lastSeen) {
        known = new Map();
        readUpTo = 0;
      }
      lastSeen = c.seq;
      if (c.seq > readUpTo) {
        const held = events.heldAfter(c.seq, c.seq + WINDOWS_READ_AHEAD);
        const ids = [c.customerId, ...held.flatMap((e) => complainantOf(e) ?? [])];
        const read = await ComplaintWindow.find({ _id: mongoose.trusted({ $in: ids }) })
          .batchSize(allInOneBatch(ids.length))
          .lean();
        known = new Map(ids.map((id) => [String(id), []]));
        for (const w of read) known.set(String(w._id), w.complaints);
        readUpTo = held.at(-1)?.seq ?? c.seq;
      }
      return known.get(String(c.customerId)) ?? (await ComplaintWindow.findById(c.customerId).lean())?.complaints ?? [];
    },
    wrote(customerId, kept) {
      if (known.has(String(customerId))) known.set(String(customerId), kept);
    },
  };
}

/**
 * Keeps a customer's recent complaints (idempotent by seq) and the hourly complaint counts;
 * returns the customer's complaints as kept now (what `complaintsInWeek` would read back).
 */
export async function noteComplaint(
  deps: Pick<Automation, 'clock' | 'events' | 'settings' | 'publishedAlerts' | 'complaintWindows'>,
  c: Complaint,
): Promise<ComplaintsKept> {
  let kept = await deps.complaintWindows.keptOf(c);
  if (!kept.some((k) => k.seq === c.seq)) {
    const since = c.at.getTime() - COMPLAINT_WINDOW_DAYS * DAY_MS;
    kept = [...kept.filter((k) => k.at.getTime() > since), { seq: c.seq, at: c.occurredAt }];
    await ComplaintWindow.updateOne({ _id: c.customerId }, { $set: { complaints: kept } }, { upsert: true });
    deps.complaintWindows.wrote(c.customerId, kept);
  }
  // The hour's count moves once per event: the guard is the last seq counted. The update
  // returns the count it made, so the anomaly check needs no read of its own then.
  let hourCount: number | null = null;
  try {
    const counted = await ComplaintHour.findOneAndUpdate(
      { _id: hourOf(c.at), lastSeq: mongoose.trusted({ $lt: c.seq }) },
      { $inc: { n: 1 }, $set: { lastSeq: c.seq } },
      { upsert: true, returnDocument: 'after' },
    ).lean();
    hourCount = counted?.n ?? null;
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err; // counted before
  }
  await checkComplaintAnomaly(deps, c.at, hourCount);
  return kept;
}

/** Complaints in the event's hour above `factor` × their hourly average over the 7 days before. */
async function checkComplaintAnomaly(
  deps: Pick<Automation, 'clock' | 'events' | 'settings' | 'publishedAlerts'>,
  at: Date,
  knownCount: number | null,
) {
  const { settings } = deps;
  const hourStart = startOfHour(at);
  const current = knownCount ?? (await ComplaintHour.findById(hourOf(at)).lean())?.n ?? 0;
  if (current < settings.anomalyMinComplaints) return;
  // Raised and published for this hour already (an alert is raised once): nothing to compute.
  const alertId = `anomaly:complaints:${hourOf(at)}`;
  if (await isPublishedAlert(deps, alertId)) return;
  // One read of the week's hours by `_id` (an index look-up each), not 168 round trips: this
  // runs for every complaint once an hour has enough of them.
  const hours = Array.from({ length: WEEK_HOURS }, (_, i) => new Date(hourStart - (i + 1) * HOUR_MS).toISOString());
  const previous = await ComplaintHour.find({ _id: mongoose.trusted({ $in: hours }) })
    .batchSize(allInOneBatch(hours.length))
    .lean();
  const average = previous.reduce((sum, h) => sum + h.n, 0) / WEEK_HOURS;
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
