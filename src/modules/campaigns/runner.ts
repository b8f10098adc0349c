import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WakeableSleep } from '../../shared/wakeable-sleep.js';
import { adapterFor } from './adapters.js';
import { readChunk, snapshotAudience } from './audience.js';
import { failCampaign, finishSending, recordFailedTry } from './finish.js';
import { claimDueCampaign, handOver, keepLease, LeaseLost, type RunnerDeps, type Sender } from './lease.js';
import type { CampaignDoc } from './model.js';
import { sendChunk } from './sending.js';
import { logBackgroundFailure } from '../../db/health.js';

/** Progress events at most this often per campaign: a few per second, not one per recipient. */
const PROGRESS_EVERY_MS = 250;

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
  readonly #sender: Sender;
  #isRunning = false;
  #isStopping = false;
  #loop: Promise<void> | undefined;
  readonly #pause = new WakeableSleep();
  /** Claims and sends under way (the poll loop's and runNow's), so runNow can wait for them. */
  readonly #turns = new Set<Promise<boolean>>();

  constructor(deps: RunnerDeps) {
    this.#sender = { ...deps, owner: this.owner };
  }

  start(): void {
    if (this.#isRunning) return;
    this.#isRunning = true;
    this.#isStopping = false;
    this.#loop = this.#run();
  }

  /** Stops claiming; the campaign being sent stops after its current batch (its lease expires for others). */
  async stop(): Promise<void> {
    this.#isRunning = false;
    this.#isStopping = true;
    this.#pause.wake();
    await this.#loop;
    await Promise.allSettled([...this.#turns]);
  }

  /** Looks for due campaigns now rather than at the next poll. */
  wake(): void {
    this.#pause.wake();
  }

  /**
   * Sends everything due now — scheduled campaigns whose time came, running ones nobody holds —
   * and waits for the sends this runner has under way; resolves once nothing is due and this
   * runner is idle. Works whether or not the runner was started; a stopped runner does nothing.
   * A failed claim rejects.
   */
  async runNow(): Promise<void> {
    while (!this.#isStopping) {
      if (await this.#turn()) continue;
      if (!this.#turns.size) return;
      await Promise.allSettled([...this.#turns]);
    }
  }

  async #run(): Promise<void> {
    while (this.#isRunning) {
      let hasSent = false;
      try {
        hasSent = await this.#turn();
      } catch (err) {
        if (this.#isRunning)
          logBackgroundFailure(this.#sender.logger, err, {}, 'campaign runner: claim failed; retrying');
      }
      if (!hasSent) await this.#pause.sleep(this.#sender.settings.pollMs);
    }
  }

  /** Claims one due campaign and works on it; false when none was due. */
  #turn(): Promise<boolean> {
    const turn = claimDueCampaign(this.#sender).then(async (campaign) => {
      if (campaign) await this.#work(campaign);
      return campaign !== null;
    });
    this.#turns.add(turn);
    const forget = () => void this.#turns.delete(turn);
    turn.then(forget, forget);
    return turn;
  }

  async #work(claimed: CampaignDoc): Promise<void> {
    const sender = this.#sender;
    const log = sender.logger.child({ campaign: claimed.code });
    const lease = keepLease(sender, claimed._id, log);
    try {
      const adapter = adapterFor(claimed.channel, { webhook: sender.settings.webhook, logger: log });
      if (!adapter) {
        await failCampaign(sender, claimed, `the ${claimed.channel} channel is not configured on this server`);
        return;
      }
      let campaign = claimed;
      // A campaign taken over mid-send may have part of its next chunk recorded already.
      let isTakeover = campaign.job.phase === 'SENDING';
      if (campaign.job.phase === 'AUDIENCE') campaign = await snapshotAudience(sender, campaign);
      let lastProgress = performance.now();
      // The next chunk is read while the current one is written (reads do not wait for writes).
      let prefetched = readChunk(campaign, campaign.job.nextChunk);
      while (campaign.status === 'RUNNING' && campaign.job.nextChunk < campaign.job.chunkCount) {
        if (lease.isLost()) return; // another runner took over
        if (this.#isStopping) {
          await handOver(sender, campaign._id);
          return;
        }
        const chunk = await prefetched;
        prefetched = readChunk(campaign, campaign.job.nextChunk + 1);
        campaign = await sendChunk(sender, campaign, chunk, adapter, isTakeover);
        isTakeover = false;
        if (performance.now() - lastProgress >= PROGRESS_EVERY_MS && campaign.status === 'RUNNING') {
          lastProgress = performance.now();
          await sender.campaigns.publish(campaign);
        }
      }
      await finishSending(sender, campaign);
      log.info({ stats: campaign.stats }, 'campaign finished sending');
    } catch (err) {
      if (err instanceof LeaseLost) log.warn('campaign lease lost to another runner; stopping');
      else await recordFailedTry(sender, claimed, err, log);
    } finally {
      lease.stopRenewing();
    }
  }
}
