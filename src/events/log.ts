import { Repeater } from '@repeaterjs/repeater';
import type { Types } from 'mongoose';
import { currentSequence, nextSequence } from '../db/counters.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { AppendableEventType, EventPayloads } from './map.js';
import { storedCollection } from '../db/collections.js';
import { claimAsGap, Event, EVENT_SEQUENCE, eventId, storedEventsFrom, type EventDoc } from './model.js';
import type { PersonalDataPolicy } from './model.js';
import { duplicateIndexesOf, isDuplicateKeyError } from '../db/errors.js';
import { WakeableSleep } from '../shared/wakeable-sleep.js';
import { logBackgroundFailure } from '../db/health.js';
import { CursorExpiredError, oldestKeptEvent, removedBelow } from './retention.js';

/** How long a tailer waits for an allocated but unwritten seq before filling it with a GAP. */
const GAP_WAIT_MS = 3_000;
/**
 * Another process's appends wake the tailer (`wake`, see peer-wake.ts) or are found by polling:
 * every ACTIVE_POLL_MS soon after one, the pause doubling with each empty poll up to IDLE_POLL_MS.
 */
const ACTIVE_POLL_MS = 10;
const IDLE_POLL_MS = 100;
const BUSY_POLL_MS = 10;
/** Events read at once by a tailer's poll (costs about what one lookup costs when fewer are there). */
const READ_AHEAD = 32;
/** Recent events kept in memory, so live subscribers never read the database per event. */
const RECENT_EVENTS = 10_000;
/** Erased customers remembered, so an event about one that arrives late is redacted too. */
const ERASED_REMEMBERED = 10_000;
const NONE_STORED: ReadonlyMap<number, EventDoc> = new Map();

/**
 * The durable, ordered event log and this process's tailer of it.
 *
 * Appending allocates the next seq and inserts the entry under it. Tailing reads seq after seq
 * in order, never skipping: with concurrent writers a higher seq can become visible before a
 * lower one, so a missing seq that was already allocated is waited for. If its writer died, the
 * tailer claims the seq with a GAP entry after GAP_WAIT_MS; the claim is the unique `_id`, so
 * either the writer's insert or the GAP wins, never both — a writer that loses re-appends
 * under a new seq, and nothing is lost or duplicated.
 *
 * Erasure: an erased customer's personal data is scrubbed from the stored log, and every
 * process must stop serving it from memory too. The erasing process redacts its own memory at
 * once and appends a CUSTOMER_ERASED event; each tailer that reaches it redacts what it holds
 * of that customer, and redacts anything about them it meets later. A subscription reads from
 * memory only once this tailer has reached the end of the log as it was when the subscription
 * began (before that, from the scrubbed database), so an erasure that finished before a
 * subscription began is never undone by a tailer that lags behind.
 */
export class EventLog {
  #position = 0;
  #recent = new Map<number, EventDoc>();
  /** Customers known to be erased, oldest first. */
  #erased = new Set<string>();
  /**
   * Events this process appended and the tailer has not reached yet: their inserts were
   * acknowledged, so the tailer takes them from here instead of reading each one back.
   */
  #ownAppends = new Map<number, EventDoc>();
  /** Seqs this process allocated and is writing, and since when: `#offer` brings them. */
  readonly #ownInFlight = new Map<number, number>();
  #waiters = new Set<() => void>();
  #isRunning = false;
  #loop: Promise<void> | undefined;
  readonly #pause = new WakeableSleep();
  /** Runs once each append is acknowledged: the composition root tells other processes' tailers. */
  afterAppend: () => void = () => undefined;

  constructor(private readonly deps: { clock: Clock; logger: Logger; personalData: PersonalDataPolicy }) {}

  /** The seq of the last event this tailer has made available. */
  get position(): number {
    return this.#position;
  }

  /**
   * The events after `afterSeq` up to `toSeq` held in memory, in order, up to the first not held:
   * a hint of what a consumer is about to handle (it still handles what its subscription gives).
   */
  heldAfter(afterSeq: number, toSeq: number): EventDoc[] {
    const held: EventDoc[] = [];
    for (let seq = afterSeq + 1; seq <= Math.min(toSeq, this.#position); seq++) {
      const doc = this.#recent.get(seq);
      if (!doc) break;
      held.push(doc);
    }
    return held;
  }

  /** The clock events are stamped with: retention measures their age by it. */
  get clock(): Clock {
    return this.deps.clock;
  }

  /** The oldest event retention has kept (its seq and time), or null while the log is empty. */
  oldestKept(): Promise<{ seq: number; at: Date } | null> {
    return oldestKeptEvent(this.#position);
  }

  /** Throws CursorExpiredError when retention removed events a replay after `afterSeq` needs. */
  async assertReplayable(afterSeq: number): Promise<void> {
    const keptFrom = await removedBelow();
    if (afterSeq + 1 < keptFrom) throw new CursorExpiredError(afterSeq, keptFrom);
  }

  async append<T extends AppendableEventType>(type: T, payload: EventPayloads[T]): Promise<EventDoc<T>> {
    for (;;) {
      const seq = await nextSequence(EVENT_SEQUENCE);
      // The mapped type does not reduce for a generic T; `append`'s signature is what is checked.
      const doc = { _id: eventId(seq), seq, type, at: this.deps.clock.now(), payload } as EventDoc & EventDoc<T>;
      this.#ownInFlight.set(seq, performance.now());
      try {
        await storedCollection<EventDoc>(Event).insertOne(doc);
        this.#offer([doc]);
        return doc;
      } catch (err) {
        // A tailer gave up waiting for this seq and filled it with a GAP: take a new one.
        if (!isDuplicateKeyError(err)) throw err;
        this.deps.logger.warn({ seq }, 'event seq was claimed as a gap; appending again');
      } finally {
        this.#ownInFlight.delete(seq);
      }
    }
  }

  /**
   * Appends several events under one allocation of consecutive seqs (one counter update and
   * one insert for the lot). A seq that a tailer already claimed as a gap is appended again.
   */
  async appendMany<T extends AppendableEventType>(type: T, payloads: Array<EventPayloads[T]>): Promise<void> {
    if (!payloads.length) return;
    const last = await nextSequence(EVENT_SEQUENCE, payloads.length);
    const at = this.deps.clock.now();
    const docs = payloads.map((payload, i) => {
      const seq = last - payloads.length + 1 + i;
      return { _id: eventId(seq), seq, type, at, payload } as EventDoc & EventDoc<T>;
    });
    for (const d of docs) this.#ownInFlight.set(d.seq, performance.now());
    try {
      await storedCollection<EventDoc>(Event).insertMany(docs, { ordered: false });
    } catch (err) {
      const duplicates = duplicateIndexesOf(err);
      if (!duplicates) throw err;
      const lost = new Set(duplicates);
      for (const i of lost) this.#ownInFlight.delete(docs[i]!.seq); // gaps now: the tailer reads them
      this.#offer(docs.filter((_, i) => !lost.has(i)));
      for (const index of duplicates) await this.append(type, payloads[index]!);
      return;
    } finally {
      for (const d of docs) this.#ownInFlight.delete(d.seq);
    }
    this.#offer(docs);
  }

  /** Called by the erasure: the stored events lose the customer's personal data (idempotent). */
  async scrubStoredEvents(customerId: Types.ObjectId): Promise<void> {
    const { customerIdPath, set, unset } = this.deps.personalData.stored;
    await Event.updateMany(
      { [customerIdPath]: customerId },
      { $set: set, $unset: Object.fromEntries(unset.map((path) => [path, ''])) },
    );
  }

  /**
   * Called by the erasure, after the stored log was scrubbed: this process serves none of the
   * customer's personal data from now on, and other processes follow when their tailers
   * reach the CUSTOMER_ERASED event.
   */
  async announceErasure(customerId: string): Promise<void> {
    this.#forget(customerId);
    await this.append('CUSTOMER_ERASED', { customerId });
  }

  #forget(customerId: string): void {
    this.#erased.delete(customerId);
    this.#erased.add(customerId);
    if (this.#erased.size > ERASED_REMEMBERED) this.#erased.delete(this.#erased.values().next().value!);
    const { customerIdOf, withoutPersonalData } = this.deps.personalData;
    for (const held of [this.#recent, this.#ownAppends])
      for (const [seq, doc] of held) if (customerIdOf(doc) === customerId) held.set(seq, withoutPersonalData(doc));
  }

  #withoutErasedData(doc: EventDoc): EventDoc {
    if (!this.#erased.size) return doc;
    const customerId = this.deps.personalData.customerIdOf(doc);
    return customerId !== null && this.#erased.has(customerId) ? this.deps.personalData.withoutPersonalData(doc) : doc;
  }

  /**
   * Hands events this process wrote to its own tailer (bounded: beyond it, they are read back).
   * Those next in order are taken at once, without waiting for a poll of the log; any that
   * follow a seq not seen yet (another writer's, still in flight) wake the tailer to look for it.
   */
  #offer(docs: EventDoc[]): void {
    this.afterAppend();
    if (this.#isRunning) {
      for (const d of docs)
        if (d.seq > this.#position && this.#ownAppends.size < RECENT_EVENTS) this.#ownAppends.set(d.seq, d);
      try {
        this.#takeInOrder(NONE_STORED);
        if (!this.#ownAppends.size) return;
      } catch (err) {
        // The append itself is done: the tailer's loop takes the event again.
        logBackgroundFailure(this.deps.logger, err, {}, 'event log tailer: could not take an event; retrying');
      }
    }
    this.#pause.wake();
  }

  /** Starts tailing from the current end of the log: events appended from now on. */
  async start(): Promise<void> {
    this.#position = await currentSequence(EVENT_SEQUENCE);
    this.#isRunning = true;
    this.#loop = this.#run();
  }

  /** Another process appended: the log is polled now, not at the next turn. */
  wake(): void {
    this.#pause.wake();
  }

  async stop(): Promise<void> {
    this.#isRunning = false;
    this.#pause.wake();
    await this.#loop;
    for (const w of this.#waiters) w();
  }

  /** Polls the log for other processes' appends (this process's come through `#offer`). */
  async #run(): Promise<void> {
    let missing: { seq: number; since: number } | undefined;
    let emptyPolls = 0;
    while (this.#isRunning) {
      let hasFoundStored = false;
      try {
        // This process's next seq, held or written for under GAP_WAIT_MS (`#offer` brings it): no read.
        const inFlightFor = performance.now() - (this.#ownInFlight.get(this.#position + 1) ?? -Infinity);
        const isOwn = this.#ownAppends.has(this.#position + 1) || inFlightFor <= GAP_WAIT_MS;
        const stored = isOwn ? NONE_STORED : await storedEventsFrom(this.#position + 1, READ_AHEAD);
        if (this.#takeInOrder(stored) > 0) {
          missing = undefined;
          hasFoundStored = true;
        } else if (!isOwn && (await currentSequence(EVENT_SEQUENCE)) > this.#position) {
          // Allocated but not visible: a writer in flight, or one that died before its insert.
          const seq = this.#position + 1;
          if (missing?.seq !== seq) missing = { seq, since: performance.now() };
          else if (performance.now() - missing.since > GAP_WAIT_MS) {
            if (await claimAsGap(seq, this.deps.clock.now()))
              this.deps.logger.warn({ seq }, 'event seq allocated but never written; recorded as a gap');
            missing = undefined;
            hasFoundStored = true;
          }
        } else {
          missing = undefined;
        }
      } catch (err) {
        if (this.#isRunning) logBackgroundFailure(this.deps.logger, err, {}, 'event log tailer: read failed; retrying');
      }
      if (hasFoundStored) emptyPolls = 0;
      // A seq another writer holds is polled for often; one of this process's comes by `#offer`.
      if (missing && !this.#ownInFlight.has(missing.seq)) await this.#pause.sleep(BUSY_POLL_MS);
      else {
        await this.#pause.sleep(Math.min(IDLE_POLL_MS, ACTIVE_POLL_MS * 2 ** emptyPolls));
        emptyPolls = Math.min(emptyPolls + 1, 8);
      }
    }
  }

  /**
   * Accepts the events after the position, this process's own appends first, then those read
   * from the log (by seq), up to the first missing; how many came from the log.
   */
  #takeInOrder(stored: ReadonlyMap<number, EventDoc>): number {
    let fromStore = 0;
    for (;;) {
      const seq = this.#position + 1;
      const own = this.#ownAppends.get(seq);
      const doc = own ?? stored.get(seq);
      if (!doc) return fromStore;
      if (own) this.#ownAppends.delete(seq);
      else fromStore++;
      this.#accept(doc);
    }
  }

  #accept(doc: EventDoc): void {
    if (doc.type === 'CUSTOMER_ERASED') this.#forget(String(doc.payload.customerId));
    this.#position = doc.seq;
    this.#recent.set(doc.seq, this.#withoutErasedData(doc));
    if (this.#recent.size > RECENT_EVENTS) this.#recent.delete(this.#recent.keys().next().value!);
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  /**
   * The event at `seq`, which must be at or before `position` (resolved: an event or a GAP),
   * from memory when `mayUseMemory`, and never with an erased customer's personal data.
   */
  async #get(seq: number, mayUseMemory: boolean): Promise<EventDoc | null> {
    const doc =
      (mayUseMemory ? this.#recent.get(seq) : undefined) ?? (await Event.findById(eventId(seq)).lean<EventDoc>());
    return doc && this.#withoutErasedData(doc);
  }

  #waitBeyond(seq: number): Promise<void> {
    if (this.#position > seq || !this.#isRunning) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /**
   * Events after `afterSeq` (or from now on when null), in order, without gaps or repeats:
   * first those already in the log (a replay), then live ones as the tailer sees them. Ends with
   * CursorExpiredError when retention removed, or removes while it reads, an event it owes.
   */
  subscribe(afterSeq: number | null): AsyncIterableIterator<EventDoc> {
    return new Repeater<EventDoc>(async (push, stop) => {
      let next = (afterSeq ?? this.#position) + 1;
      let isStopped = false;
      // One reaction on `stop` for the subscription's life, waking whatever wait is current: a
      // race against `stop` per wait would chain a reaction onto it for every event (a leak
      // that grew the heap by ~95 MiB a minute over a 1,000-subscriber soak).
      let wake: (() => void) | undefined;
      void stop.then(() => {
        isStopped = true;
        wake?.();
      });
      if (afterSeq !== null) await this.assertReplayable(afterSeq);
      // Every erasure that finished before now announced itself at or below this seq.
      const erasuresAnnouncedBy = await currentSequence(EVENT_SEQUENCE);
      while (!isStopped && this.#isRunning) {
        if (next <= this.#position) {
          const doc = await this.#get(next, this.#position >= erasuresAnnouncedBy);
          // Missing at or before the tailer's position: pruned, or a hole a crashed writer left.
          if (!doc) await this.assertReplayable(next - 1);
          next++;
          if (doc && doc.type !== 'GAP') await push(doc);
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          void this.#waitBeyond(next - 1).then(resolve);
        });
        wake = undefined;
      }
      stop();
    });
  }
}
