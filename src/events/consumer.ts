import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mongoose, { Schema } from 'mongoose';
import { allInOneBatch, storedCollection } from '../db/collections.js';
import { currentSequence } from '../db/counters.js';
import { isDuplicateKeyError } from '../db/errors.js';
import type { Logger } from '../shared/logger.js';
import type { EventLog } from './log.js';
import { Event, EVENT_SEQUENCE, eventId, type EventDoc } from './model.js';
import { WakeableSleep } from '../shared/wakeable-sleep.js';
import { logBackgroundFailure } from '../db/health.js';

/** How often `whenCaughtUp` reads the stored position: another process may be the one moving it. */
const CAUGHT_UP_POLL_MS = 25;
/** Beyond this many events behind, `whenCaughtUp` waits for the position instead of looking for gaps. */
const GAP_LOOKAHEAD = 1_000;
/**
 * The position is stored after this many events handled, or this long after the first event
 * handled since the last store, or at once when `whenCaughtUp` waits for it: each store is a
 * write (and the flush before it, which writes what the handlers kept), so a steady trickle of
 * events costs a few stores a second, not three writes per event; a crash hands at most these
 * events over again (handlers are idempotent).
 */
const POSITION_EVERY = 1_000;
const POSITION_MS = 250;

/** An event-log consumer's position and lease: one process at a time consumes, from where the last stopped. */
export type ConsumerDoc = { _id: string; position: number; leaseOwner: string | null; leaseUntil: Date };

export const Consumer = mongoose.model<ConsumerDoc>(
  'LogConsumer',
  new Schema<ConsumerDoc>(
    {
      _id: String,
      position: { type: Number, required: true },
      leaseOwner: { type: String },
      leaseUntil: { type: Date, required: true },
    },
    { versionKey: false, collection: 'log_consumers' },
  ),
);

/**
 * A durable consumer of the event log (each consumer keeps its own position):
 * across every API process, one at a time holds its lease and handles events in log order
 * from the stored position, which moves after the events handled (a compare-and-set on the
 * lease): every POSITION_EVERY events, within POSITION_MS, or when someone waits for it. A
 * process that dies stops renewing; another takes over from the last stored
 * position, so an event can be handled twice but is never skipped — handlers are idempotent. Leases follow the
 * real time (they are about processes, not about the domain).
 */
export class LogConsumer {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  #isRunning = false;
  #loop: Promise<void> | undefined;
  readonly #pause = new WakeableSleep();
  #stream: AsyncIterableIterator<EventDoc> | undefined;
  /** Callers of `whenCaughtUp`, told each time this process stores a new position. */
  readonly #positionWatchers = new Set<() => void>();
  /** Stores what this process handled now rather than when it is due (someone waits for it). */
  #storeDueNow: (() => void) | undefined;

  constructor(
    private readonly deps: {
      name: string;
      events: EventLog;
      logger: Logger;
      leaseMs: number;
      handle: (event: EventDoc) => Promise<void>;
      /** Writes what `handle` kept in memory: called before each position store. */
      flush?: () => Promise<void>;
    },
  ) {}

  get name(): string {
    return this.deps.name;
  }

  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#isRunning = false;
    this.#pause.wake();
    await this.#stream?.return?.();
    await this.#loop;
    // Hand over at once rather than when the lease expires.
    await Consumer.updateOne(
      { _id: this.deps.name, leaseOwner: this.owner },
      { $set: { leaseOwner: null, leaseUntil: new Date(0) } },
    ).catch(() => {});
  }

  /**
   * Resolves once every event up to `seq` (by default the end of the log now) was handled, by
   * this process or by whichever holds the lease: the stored position reached `seq`, or only
   * GAP entries lie between the two (a GAP is never handed to a consumer, so the position does
   * not move over it). Tests and operators use it to know the consumer is idle; it changes
   * nothing in how events are consumed.
   */
  async whenCaughtUp(seq?: number): Promise<void> {
    const target = seq ?? (await currentSequence(EVENT_SEQUENCE));
    for (;;) {
      this.#storeDueNow?.();
      const stored = await Consumer.findById(this.deps.name).lean();
      if (stored && (stored.position >= target || (await isOnlyGaps(stored.position, target)))) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#positionWatchers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, CAUGHT_UP_POLL_MS);
        this.#positionWatchers.add(done);
      });
    }
  }

  async #run(): Promise<void> {
    while (this.#isRunning) {
      try {
        const claimed = await this.#claim();
        if (claimed) await this.#consume(claimed.position);
      } catch (err) {
        if (this.#isRunning)
          logBackgroundFailure(this.deps.logger, err, { consumer: this.deps.name }, 'event consumer failed; retrying');
      }
      if (this.#isRunning) await this.#pause.sleep(Math.min(1_000, this.deps.leaseMs / 3));
    }
  }

  async #claim(): Promise<{ position: number } | null> {
    const now = new Date();
    const lease = { leaseOwner: this.owner, leaseUntil: new Date(now.getTime() + this.deps.leaseMs) };
    const claimed = await Consumer.findOneAndUpdate(
      { _id: this.deps.name, leaseUntil: mongoose.trusted({ $lt: now }) },
      { $set: lease },
      { returnDocument: 'after' },
    ).lean();
    if (claimed) return claimed;
    try {
      // First start: the consumer begins at the current end of the log, not at its beginning.
      const position = await currentSequence(EVENT_SEQUENCE);
      await storedCollection(Consumer).insertOne({ _id: this.deps.name, position, ...lease });
      return { position };
    } catch (err) {
      if (isDuplicateKeyError(err)) return null; // it exists and someone else holds it
      throw err;
    }
  }

  async #consume(from: number): Promise<void> {
    const renew = setInterval(
      () => {
        Consumer.updateOne(
          { _id: this.deps.name, leaseOwner: this.owner },
          { $set: { leaseUntil: new Date(Date.now() + this.deps.leaseMs) } },
        )
          .then((r) => {
            if (r.matchedCount === 0) void this.#stream?.return?.(); // lost: stop at once
          })
          .catch(() => {});
      },
      Math.max(50, Math.floor(this.deps.leaseMs / 3)),
    );
    let handled = from;
    let stored = from;
    let lateStore: NodeJS.Timeout | undefined;
    // One store at a time, in order: a flush of later events must never land before an
    // earlier one (their guards would then turn the earlier increments away). Once a flush or
    // a store failed, nothing more is stored here: what the flush held is gone from memory, so
    // the events after the stored position must be handled again (the consumer starts over).
    let isBroken = false;
    let isHeld = true;
    // Stores (their flushes) and the handling of events take turns, in order: a flush never runs
    // while a handler adds to what it writes, and a later flush never lands before an earlier one.
    let turn: Promise<unknown> = Promise.resolve();
    const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
      const done = turn.then(work);
      turn = done.catch(() => undefined);
      return done;
    };
    const store = (): Promise<boolean> => {
      clearTimeout(lateStore);
      lateStore = undefined;
      return inTurn(async () => {
        const position = handled;
        if (isBroken || !isHeld || position <= stored) return isHeld && !isBroken;
        try {
          await this.deps.flush?.();
          isHeld = await this.#storePosition(position);
          stored = Math.max(stored, position);
          return isHeld;
        } catch (err) {
          isBroken = true;
          throw err;
        }
      });
    };
    // A store that was due later: a failure or a lost lease ends the stream (the consumer
    // starts over from the stored position).
    const storeDue = () =>
      store().then(
        (isHeld) => isHeld || void this.#stream?.return?.(),
        (err: unknown) => {
          logBackgroundFailure(this.deps.logger, err, { consumer: this.deps.name }, 'event consumer failed; retrying');
          void this.#stream?.return?.();
        },
      );
    this.#storeDueNow = () => {
      if (lateStore) void storeDue();
    };
    try {
      this.#stream = this.deps.events.subscribe(from);
      // A stop that came while the lease was being claimed found no stream to end: it would
      // wait for an event that may never come.
      if (!this.#isRunning) return;
      for await (const event of this.#stream) {
        if (!this.#isRunning || isBroken) break;
        await inTurn(() => this.deps.handle(event));
        handled = event.seq;
        if (handled - stored >= POSITION_EVERY) {
          if (!(await store())) return; // another process took over
        } else lateStore ??= setTimeout(() => void storeDue(), POSITION_MS);
      }
    } finally {
      this.#storeDueNow = undefined;
      clearInterval(renew);
      clearTimeout(lateStore);
      this.#stream = undefined;
      await store().catch(() => false);
    }
  }

  /**
   * Stores the position (never moving it back: a late store may finish after a newer one) and
   * renews the lease; false when this process no longer holds it.
   */
  async #storePosition(position: number): Promise<boolean> {
    const moved = await Consumer.updateOne(
      { _id: this.deps.name, leaseOwner: this.owner },
      { $max: { position }, $set: { leaseUntil: new Date(Date.now() + this.deps.leaseMs) } },
    );
    if (moved.matchedCount === 0) return false;
    for (const watcher of [...this.#positionWatchers]) watcher();
    return true;
  }
}

/** True when every seq after `position` up to `target` is written and is a GAP. */
async function isOnlyGaps(position: number, target: number): Promise<boolean> {
  if (target - position > GAP_LOOKAHEAD) return false;
  // `_id` equality (`$in`), which the embedded engine answers from its index; a range it scans.
  const ids = Array.from({ length: target - position }, (_, i) => eventId(position + 1 + i));
  const entries = await Event.find({ _id: mongoose.trusted({ $in: ids }) })
    .batchSize(allInOneBatch(ids.length))
    .select({ type: 1 })
    .lean();
  return entries.length === target - position && entries.every((e) => e.type === 'GAP');
}

/**
 * The durable consumer furthest behind, by its stored position, or null when none ever started.
 * Every consumer that ever ran counts, running now or not: retention keeps what it has not
 * handled. One that was retired for good is removed from `log_consumers` by an operator.
 */
export async function slowestConsumer(): Promise<{ name: string; position: number } | null> {
  const stored = await Consumer.find({}).select({ position: 1 }).lean();
  const slowest = stored.sort((a, b) => a.position - b.position)[0];
  return slowest ? { name: slowest._id, position: slowest.position } : null;
}
