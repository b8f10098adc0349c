import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mongoose from 'mongoose';
import pMap from 'p-map';
import type { Config } from '../../config.js';
import { duplicateIndexesOf } from '../../db/errors.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { Customer, type CustomerDoc } from '../customers/model.js';
import { adapterFor, type ChannelAdapter, type OutgoingMessage } from './adapters.js';
import {
  AudienceChunk,
  audienceChunkId,
  Campaign,
  Delivery,
  decodeRecipients,
  deliveryId,
  encodeRecipients,
  type AudienceChunkDoc,
  type CampaignDoc,
  type DeliveryDoc,
  type RecipientDoc,
} from './model.js';
import type { CampaignsService } from './service.js';
import { renderMessage } from './template.js';
import { WakeableSleep } from '../../shared/wakeable-sleep.js';

/** Progress events at most this often per campaign: a few per second, not one per recipient. */
const PROGRESS_EVERY_MS = 250;
/** After this many failed tries in a row a campaign is FAILED. */
const MAX_FAILURES = 5;
/** How many chunks of the audience snapshot are written per insert. */
const CHUNKS_PER_INSERT = 10;

class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/**
 * Sends campaigns as durable background jobs. Every API process runs one runner; they share
 * the work through leases on the campaign documents:
 *
 * - A due campaign (RUNNING with an expired lease, or SCHEDULED and due) is claimed with a
 *   compare-and-set that takes the lease; the holder renews it while it works. A process that
 *   dies stops renewing, and any runner takes over once the lease expires.
 * - The audience is snapshotted once into numbered chunks, then sent chunk by chunk. After a
 *   chunk, one update — conditional on holding the lease and on the chunk number — adds its
 *   stats and moves the checkpoint, so each chunk's stats count exactly once.
 * - Deliveries are written once, in their final state, under `<campaign>:<customer>`: a
 *   resumed chunk skips recipients already recorded, and the unique `_id` refuses a second
 *   record. Only a crash between the channel's answer and that write resends a message, with
 *   the same idempotency key (the delivery id), so the provider can drop it.
 */
export class CampaignRunner {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  #isRunning = false;
  #loop: Promise<void> | undefined;
  readonly #pause = new WakeableSleep();

  constructor(
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      campaigns: CampaignsService;
      settings: Config['campaigns'];
    },
  ) {}

  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#loop = this.#run();
  }

  /** Stops claiming; the campaign being sent stops after its current batch (its lease expires for others). */
  async stop(): Promise<void> {
    this.#isRunning = false;
    this.#pause.wake();
    await this.#loop;
  }

  /** Looks for due campaigns now rather than at the next poll. */
  wake(): void {
    this.#pause.wake();
  }

  async #run(): Promise<void> {
    while (this.#isRunning) {
      let campaign: CampaignDoc | null = null;
      try {
        campaign = await this.#claim();
        if (campaign) await this.#work(campaign);
      } catch (err) {
        if (this.#isRunning) this.deps.logger.error({ err }, 'campaign runner: claim failed; retrying');
      }
      if (!campaign) await this.#pause.sleep(this.deps.settings.pollMs);
    }
  }

  #leaseEnd(): Date {
    return new Date(this.deps.clock.now().getTime() + this.deps.settings.leaseMs);
  }

  /** Takes the lease of one due campaign: a scheduled one whose time came, or one whose sender stopped. */
  async #claim(): Promise<CampaignDoc | null> {
    const now = this.deps.clock.now();
    const lease = { 'job.leaseOwner': this.owner, 'job.leaseUntil': this.#leaseEnd() };
    const scheduled = await Campaign.findOneAndUpdate(
      { status: 'SCHEDULED', scheduledAt: mongoose.trusted({ $lte: now }) },
      { $set: { status: 'RUNNING', startedAt: now, updatedAt: now, ...lease } },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (scheduled) {
      await this.deps.campaigns.publish(scheduled);
      return scheduled;
    }
    return Campaign.findOneAndUpdate(
      { status: 'RUNNING', 'job.leaseUntil': mongoose.trusted({ $lt: now }) },
      { $set: lease },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
  }

  async #work(claimed: CampaignDoc): Promise<void> {
    const log = this.deps.logger.child({ campaign: claimed.code });
    let isLost = false;
    const heartbeat = setInterval(
      () => {
        Campaign.updateOne(
          { _id: claimed._id, 'job.leaseOwner': this.owner },
          { $set: { 'job.leaseUntil': this.#leaseEnd() } },
        )
          .then((r) => {
            if (r.matchedCount === 0) isLost = true;
          })
          .catch((err: unknown) => log.warn({ err }, 'campaign lease renewal failed'));
      },
      Math.max(100, Math.floor(this.deps.settings.leaseMs / 3)),
    );
    try {
      const adapter = adapterFor(claimed.channel, { webhook: this.deps.settings.webhook, logger: log });
      if (!adapter) {
        await this.#fail(claimed, `the ${claimed.channel} channel is not configured on this server`);
        return;
      }
      let campaign = claimed;
      // A campaign taken over mid-send may have part of its next chunk recorded already.
      let isTakeover = campaign.job.phase === 'SENDING';
      if (campaign.job.phase === 'AUDIENCE') campaign = await this.#snapshot(campaign);
      let lastProgress = performance.now();
      // The next chunk is read while the current one is written (reads do not wait for writes).
      let prefetched = this.#readChunk(campaign, campaign.job.nextChunk);
      while (campaign.status === 'RUNNING' && campaign.job.nextChunk < campaign.job.chunkCount) {
        if (isLost) return; // another runner took over
        if (!this.#isRunning) {
          // Shutting down: hand the campaign over at once instead of when the lease expires.
          await Campaign.updateOne(
            { _id: campaign._id, 'job.leaseOwner': this.owner },
            { $set: { 'job.leaseUntil': new Date(0) } },
          );
          return;
        }
        const chunk = await prefetched;
        const k = campaign.job.nextChunk;
        prefetched = this.#readChunk(campaign, k + 1);
        campaign = await this.#sendChunk(campaign, chunk, adapter, isTakeover);
        isTakeover = false;
        if (performance.now() - lastProgress >= PROGRESS_EVERY_MS && campaign.status === 'RUNNING') {
          lastProgress = performance.now();
          await this.deps.campaigns.publish(campaign);
        }
      }
      await this.#finish(campaign);
      log.info({ stats: campaign.stats }, 'campaign finished sending');
    } catch (err) {
      if (err instanceof LeaseLost) log.warn('campaign lease lost to another runner; stopping');
      else await this.#failedTry(claimed, err, log);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * The audience at start: customers in the target segments (and not unsubscribed), read in one
   * pass and stored in numbered chunks. A snapshot interrupted by a crash is started over.
   */
  async #snapshot(campaign: CampaignDoc): Promise<CampaignDoc> {
    await AudienceChunk.deleteMany({ campaignId: campaign._id });
    const size = this.deps.settings.batchSize;
    const cursor = Customer.find({
      segment: mongoose.trusted({ $in: campaign.targetSegments }),
      unsubscribedAt: null,
    })
      .select({ code: 1, name: 1, email: 1, phone: 1, segment: 1 })
      .lean<CustomerDoc[]>()
      .cursor({ batchSize: 1_000 });
    let chunk = 0;
    let total = 0;
    let recipients: RecipientDoc[] = [];
    let pending: AudienceChunkDoc[] = [];
    // One insert in flight while the scan goes on: the scan and the writes overlap.
    let inFlight: Promise<unknown> = Promise.resolve();
    const flush = async () => {
      await inFlight;
      const batch = pending;
      pending = [];
      if (!batch.length) return;
      const insert = AudienceChunk.collection.insertMany(batch as never[]);
      insert.catch(() => {}); // awaited (and its error thrown) at the next flush
      inFlight = insert;
    };
    const close = async () => {
      if (!recipients.length) return;
      pending.push({
        _id: audienceChunkId(campaign._id, chunk),
        campaignId: campaign._id,
        chunk,
        recipients: encodeRecipients(recipients),
      });
      chunk++;
      recipients = [];
      if (pending.length >= CHUNKS_PER_INSERT) await flush();
    };
    for await (const c of cursor) {
      recipients.push({
        customerId: c._id,
        code: c.code,
        name: c.name,
        email: c.email ?? null,
        phone: c.phone ?? null,
        segment: c.segment,
      });
      total++;
      if (recipients.length >= size) await close();
    }
    await close();
    await flush();
    await inFlight;
    const updated = await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': this.owner, 'job.phase': 'AUDIENCE' },
      {
        $set: {
          'job.phase': 'SENDING',
          'job.audienceReadyAt': this.deps.clock.now(),
          'job.chunkCount': chunk,
          'job.chunkSize': size,
          'job.nextChunk': 0,
          'job.leaseUntil': this.#leaseEnd(),
          'stats.targeted': total,
          updatedAt: this.deps.clock.now(),
        },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (!updated) throw new LeaseLost();
    if (updated.status === 'RUNNING') await this.deps.campaigns.publish(updated);
    return updated;
  }

  /** A chunk of the snapshot, or null past the last one; never rejects (a failed read is retried by #sendChunk). */
  #readChunk(campaign: CampaignDoc, k: number): Promise<AudienceChunkDoc | null | undefined> {
    if (k >= campaign.job.chunkCount) return Promise.resolve(null);
    return AudienceChunk.findById(audienceChunkId(campaign._id, k))
      .lean<AudienceChunkDoc>()
      .then(
        (c) => c,
        () => undefined,
      );
  }

  /** Sends one chunk and checkpoints it; returns the campaign after the checkpoint. */
  async #sendChunk(
    campaign: CampaignDoc,
    prefetched: AudienceChunkDoc | null | undefined,
    adapter: ChannelAdapter,
    isTakeover: boolean,
  ): Promise<CampaignDoc> {
    const k = campaign.job.nextChunk;
    const chunk =
      prefetched === undefined
        ? await AudienceChunk.findById(audienceChunkId(campaign._id, k)).lean<AudienceChunkDoc>()
        : prefetched;
    if (!chunk) {
      // Cancelled meanwhile (a cancel removes the snapshot), or the snapshot is damaged.
      const now = await Campaign.findById(campaign._id).lean<CampaignDoc>();
      if (now && now.status !== 'RUNNING') return now;
      throw new Error(`audience chunk ${k} of ${campaign.code} is missing`);
    }
    const size = campaign.job.chunkSize ?? this.deps.settings.batchSize;
    const recipients = decodeRecipients(chunk.recipients);
    const ids = recipients.map((r) => deliveryId(campaign._id, r.customerId));
    // A chunk this runner takes over may have been partly recorded by the runner before it.
    const recorded = new Map<string, DeliveryDoc>();
    if (isTakeover) {
      const found = await pMap(ids, (id) => Delivery.findById(id).lean<DeliveryDoc>(), { concurrency: 16 });
      for (const d of found) if (d) recorded.set(d._id, d);
    }
    const toSend: OutgoingMessage[] = [];
    recipients.forEach((recipient, i) => {
      if (recorded.has(ids[i]!)) return;
      toSend.push({
        deliveryId: ids[i]!,
        ordinal: k * size + i,
        campaign: { id: String(campaign._id), code: campaign.code, name: campaign.name },
        recipient,
        body: renderMessage(campaign.message, recipient),
      });
    });
    const outcomes = await adapter.send(toSend);
    const sentAt = this.deps.clock.now();
    const docs: DeliveryDoc[] = toSend.map((m, i) => ({
      _id: m.deliveryId,
      campaignId: campaign._id,
      customerId: m.recipient.customerId,
      ordinal: m.ordinal,
      status: outcomes[i]!.status,
      attempts: outcomes[i]!.attempts,
      ...(outcomes[i]!.error ? { error: outcomes[i]!.error } : {}),
      message: m.body,
      email: m.recipient.email ?? null,
      phone: m.recipient.phone ?? null,
      sentAt,
      responses: {},
    }));
    if (docs.length) {
      try {
        await Delivery.collection.insertMany(docs as never[], { ordered: false });
      } catch (err) {
        const duplicates = duplicateIndexesOf(err);
        if (!duplicates) throw err;
        // Recorded by someone else meanwhile (a runner whose lease we took): theirs stands.
        for (const i of duplicates) {
          const theirs = await Delivery.findById(docs[i]!._id).lean<DeliveryDoc>();
          if (theirs) docs[i] = theirs;
        }
      }
    }
    const all = [...recorded.values(), ...docs];
    const delivered = all.filter((d) => d.status === 'DELIVERED').length;
    const updated = await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': this.owner, 'job.nextChunk': k },
      {
        $inc: {
          'stats.sent': all.length,
          'stats.delivered': delivered,
          'stats.failed': all.length - delivered,
          'job.nextChunk': 1,
        },
        $set: { 'job.leaseUntil': this.#leaseEnd(), 'job.failures': 0, updatedAt: this.deps.clock.now() },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (!updated) throw new LeaseLost();
    return updated;
  }

  /** COMPLETED when every chunk is sent; a campaign cancelled meanwhile stays CANCELLED. */
  async #finish(campaign: CampaignDoc): Promise<void> {
    const now = this.deps.clock.now();
    const release = { 'job.phase': 'DONE', 'job.leaseOwner': null, updatedAt: now };
    const completed = await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': this.owner, status: 'RUNNING' },
      {
        $set: {
          ...release,
          status: 'COMPLETED',
          completedAt: now,
          attributionEndsAt: new Date(now.getTime() + campaign.attributionWindowDays * DAY_MS),
        },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    const final =
      completed ??
      (await Campaign.findOneAndUpdate(
        { _id: campaign._id, 'job.leaseOwner': this.owner },
        { $set: release },
        { returnDocument: 'after' },
      ).lean<CampaignDoc>());
    if (!final) throw new LeaseLost();
    // The final state, with the final stats (after a cancel: what the last batch added).
    await this.deps.campaigns.publish(final);
    await AudienceChunk.deleteMany({ campaignId: campaign._id });
  }

  async #fail(campaign: CampaignDoc, reason: string): Promise<void> {
    const now = this.deps.clock.now();
    const failed = await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': this.owner, status: 'RUNNING' },
      {
        $set: {
          status: 'FAILED',
          failureReason: reason,
          completedAt: now,
          attributionEndsAt: new Date(now.getTime() + campaign.attributionWindowDays * DAY_MS),
          'job.phase': 'DONE',
          'job.leaseOwner': null,
          updatedAt: now,
        },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (failed) {
      await this.deps.campaigns.publish(failed);
      await AudienceChunk.deleteMany({ campaignId: campaign._id });
    }
  }

  /** A try that threw: retried after a pause (the lease is shortened), FAILED after MAX_FAILURES in a row. */
  async #failedTry(campaign: CampaignDoc, err: unknown, log: Logger): Promise<void> {
    const reason = (err as Error).message ?? String(err);
    try {
      const after = await Campaign.findOneAndUpdate(
        { _id: campaign._id, 'job.leaseOwner': this.owner },
        { $inc: { 'job.failures': 1 }, $set: { 'job.lastError': reason } },
        { returnDocument: 'after' },
      ).lean<CampaignDoc>();
      if (!after) return;
      if (after.job.failures >= MAX_FAILURES) {
        log.error({ err }, 'campaign failed too often; marking it FAILED');
        await this.#fail(after, `sending failed ${MAX_FAILURES} times in a row; last error: ${reason}`);
        return;
      }
      log.warn({ err, failures: after.job.failures }, 'campaign batch failed; retrying');
      const pause = Math.min(this.deps.settings.leaseMs, 1_000 * 2 ** after.job.failures);
      await Campaign.updateOne(
        { _id: campaign._id, 'job.leaseOwner': this.owner },
        { $set: { 'job.leaseUntil': new Date(this.deps.clock.now().getTime() + pause) } },
      );
    } catch (inner) {
      log.error({ err: inner, cause: err }, 'campaign failure could not be recorded; the lease will expire');
    }
  }
}
