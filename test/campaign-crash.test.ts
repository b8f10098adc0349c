/**
 * A campaign survives its sender dying: an API process is killed with SIGKILL in the middle of
 * a 10,000-recipient send, another process takes the job over when the lease expires, and the
 * campaign ends with exactly 10,000 deliveries — one per recipient — and stats that add up.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { insertCustomersWithInteractions } from '../bench/scenarios/data.js';
import { Delivery } from '../src/modules/campaigns/model.js';
import { campaignMutation, createCampaign, getCampaign, settled } from './helpers/campaigns.js';
import { eventually, spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const RECIPIENTS = 10_000;

describe('a campaign whose sender is killed mid-send', () => {
  let t: TestServer;
  const processes: ApiProcess[] = [];
  const env = () => ({
    MONGODB_URI: process.env.MONGODB_URI,
    MONGODB_DB: t.dbName,
    CAMPAIGN_LEASE_MS: '1500',
    CAMPAIGN_POLL_MS: '200',
    CAMPAIGN_BATCH_SIZE: '100',
  });
  async function start(): Promise<{ p: ApiProcess; url: string }> {
    const p = spawnEntryPoint('src/main.ts', env());
    processes.push(p);
    return { p, url: (await p.waitForLine(/ready at (http:\/\/\S+)\n/))[1]! };
  }
  const via = (url: string) => ({
    graphql: async <T>(query: string, variables?: Record<string, unknown>) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as never as { data?: T } };
    },
  });

  beforeAll(async () => {
    // The in-process server only owns the database and reads results: its runner never polls.
    t = await startTestServer({ env: { CAMPAIGN_POLL_MS: '3600000' } });
    await insertCustomersWithInteractions(RECIPIENTS, 0, 'K');
  }, 120_000);

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(processes.map((p) => p.exited));
    await t.stop();
  });

  it('is resumed by another process and ends with exactly one delivery per recipient', async () => {
    const first = await start();
    const api = via(first.url);
    const campaign = await createCampaign(api, { name: 'Crash test', targetSegments: ['NEW'], message: 'Hi {{name}}' });
    expect((await campaignMutation(api, 'executeCampaign', { id: campaign.id })).userErrors).toEqual([]);

    // Kill the sender once a good part, but not all, is sent.
    await eventually(
      () => getCampaign(t, campaign.id),
      (c) => c.stats.sent >= 1_500,
      60_000,
    );
    first.p.child.kill('SIGKILL');
    await first.p.exited;
    const atKill = await getCampaign(t, campaign.id);
    expect(atKill.status).toBe('RUNNING');
    expect(atKill.stats.targeted).toBe(RECIPIENTS);
    expect(atKill.stats.sent).toBeLessThan(RECIPIENTS);

    // Another process takes over when the dead one's lease expires.
    await start();
    const done = await settled(t, campaign.id, 120_000);
    expect(done.status).toBe('COMPLETED');
    expect(done.stats).toMatchObject({ targeted: RECIPIENTS, sent: RECIPIENTS, delivered: RECIPIENTS, failed: 0 });

    const campaignId = new mongoose.Types.ObjectId(Buffer.from(campaign.id, 'base64url').toString().split(':')[1]);
    const deliveries = await Delivery.find({ campaignId }).select({ customerId: 1, ordinal: 1 }).lean();
    expect(deliveries).toHaveLength(RECIPIENTS);
    expect(new Set(deliveries.map((d) => String(d.customerId))).size).toBe(RECIPIENTS);
    expect(new Set(deliveries.map((d) => d.ordinal)).size).toBe(RECIPIENTS);
  }, 240_000);
});
