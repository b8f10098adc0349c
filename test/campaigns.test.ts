/**
 * Campaigns through the public API: drafts, the audience snapshot, sending through the outbox
 * and a real webhook provider (a local HTTP server that checks signatures), responses,
 * attribution, scheduling, cancelling, progress over graphql-ws and who may do what. Time is
 * the test's clock wherever a window or a schedule matters.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../src/config.js';
import { ManualClock } from '../src/shared/clock.js';
import {
  allDeliveries,
  CAMPAIGN_FIELDS,
  campaignMutation,
  createCampaign,
  getCampaign,
  settled,
  STATS_FIELDS,
  type CampaignView,
} from './helpers/campaigns.js';
import { createCustomer, DAY_MS, recordPurchase, type CustomerView } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { useTestServer } from './helpers/server.js';

const SECRET_BYTES = Buffer.from('pulse-crm-test-webhook-secret-32b');
const WEBHOOK_SECRET = `whsec_${SECRET_BYTES.toString('base64')}`;

type Received = { key: string; valid: boolean; body: { recipient: { name: string }; message: string } };

/** A provider: verifies each signature; answers per recipient name as told. */
function startProvider(answer: (name: string, tryNumber: number) => number) {
  const received: Received[] = [];
  const tries = new Map<string, number>();
  const verifier = new Webhook(SECRET_BYTES.toString('base64'));
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let valid = true;
      try {
        verifier.verify(raw, headers);
      } catch {
        valid = false;
      }
      const body = JSON.parse(raw) as Received['body'];
      const key = headers['idempotency-key'] ?? '';
      valid &&= key === headers['webhook-id'];
      received.push({ key, valid, body });
      const n = (tries.get(key) ?? 0) + 1;
      tries.set(key, n);
      res.statusCode = valid ? answer(body.recipient.name, n) : 401;
      res.end();
    });
  });
  return {
    received,
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('campaigns', () => {
  const clock = new ManualClock(new Date());
  const provider = startProvider((name, n) =>
    name.startsWith('Flaky') && n <= 2 ? 503 : name.startsWith('Gone') ? 410 : 200,
  );
  const t = useTestServer(async () => ({
    clock,
    env: {
      CAMPAIGN_POLL_MS: '50',
      CAMPAIGN_BATCH_SIZE: '2',
      CAMPAIGN_WEBHOOK_URL: await provider.listen(),
      CAMPAIGN_WEBHOOK_SECRET: WEBHOOK_SECRET,
      CAMPAIGN_WEBHOOK_RETRY_BASE_MS: '5',
      CAMPAIGN_WEBHOOK_MAX_ATTEMPTS: '4',
    },
  }));
  const vip: CustomerView[] = [];
  const loyal: CustomerView[] = [];
  const others: CustomerView[] = [];

  beforeAll(async () => {
    for (const name of ['Kim <b>"VIP"</b> & Co', 'Lee VIP']) {
      const c = await createCustomer(t, { name });
      await recordPurchase(t, { customerId: c.id, amount: '1000000', externalId: `vip-${name}` });
      vip.push(c);
    }
    for (const name of ['Park Loyal', 'Choi Loyal', 'Jung Loyal']) {
      const c = await createCustomer(t, { name });
      for (let i = 0; i < 5; i++) await recordPurchase(t, { customerId: c.id, amount: '1000' });
      loyal.push(c);
    }
    for (const name of ['Kang New', 'Yoon New']) others.push(await createCustomer(t, { name }));
  }, 60_000);
  afterAll(async () => {
    await provider.close();
  });

  describe('drafts', () => {
    it('refuses bad input with one userError per field and creates nothing', async () => {
      const payload = await campaignMutation(t, 'createCampaign', {
        input: {
          name: ' ',
          targetSegments: [],
          message: 'Hi {{{name}}}',
          scheduledAt: new Date(clock.now().getTime() - 1_000).toISOString(),
          attributionWindowDays: 0,
        },
      });
      expect(payload.campaign).toBeNull();
      expect(payload.userErrors.map((e) => [e.field?.join('.'), e.code])).toEqual([
        ['input.name', 'INVALID'],
        ['input.targetSegments', 'INVALID'],
        ['input.message', 'INVALID'],
        ['input.scheduledAt', 'INVALID'],
        ['input.attributionWindowDays', 'INVALID'],
      ]);
      const unknown = await campaignMutation(t, 'createCampaign', {
        input: { name: 'x', targetSegments: ['VIP'], message: 'Hi {{password}}' },
      });
      expect(unknown.userErrors[0]?.message).toMatch(/unknown placeholder \{\{password\}\}/);
      const list = await t.graphql<{ campaigns: { totalCount: number } }>('{ campaigns { totalCount } }');
      expect(list.body.data?.campaigns.totalCount).toBe(0);
    });

    it('creates a DRAFT with a sequential code and updates it only while it is a draft', async () => {
      const first = await createCampaign(t, { name: 'Draft one', targetSegments: ['NEW'], message: 'Hello {{name}}' });
      expect(first).toMatchObject({ code: 'CM0001', status: 'DRAFT', channel: 'OUTBOX', startedAt: null });
      expect(first.stats).toMatchObject({ targeted: 0, sent: 0, responseRate: 0, revenue: { amount: '0' } });
      const updated = await campaignMutation(t, 'updateCampaign', {
        id: first.id,
        input: { name: 'Draft one, renamed', targetSegments: ['LOYAL', 'VIP', 'VIP'] },
      });
      expect(updated.userErrors).toEqual([]);
      expect(updated.campaign).toMatchObject({ name: 'Draft one, renamed', targetSegments: ['VIP', 'LOYAL'] });

      const cancelled = await campaignMutation(t, 'cancelCampaign', { id: first.id });
      expect(cancelled.campaign?.status).toBe('CANCELLED');
      const again = await campaignMutation(t, 'updateCampaign', { id: first.id, input: { name: 'too late' } });
      expect(again.userErrors).toEqual([expect.objectContaining({ code: 'INVALID_STATE', field: ['id'] })]);
      expect((await campaignMutation(t, 'executeCampaign', { id: first.id })).userErrors[0]?.code).toBe(
        'INVALID_STATE',
      );
      expect((await campaignMutation(t, 'cancelCampaign', { id: 'nope' })).userErrors[0]?.code).toBe('NOT_FOUND');
    });
  });

  describe('a VIP + LOYAL campaign through the outbox', () => {
    let campaign: CampaignView;
    let progress: Array<{ status: string; stats: Record<string, unknown>; cursor: string }>;

    beforeAll(async () => {
      campaign = await createCampaign(t, {
        name: 'Spring VIP & loyal',
        targetSegments: ['VIP', 'LOYAL'],
        message: 'Dear {{name}} ({{segment}}), spring is here.',
      });
      // Subscribe before sending: progress events, then the final COMPLETED with the final stats.
      const client = t.wsClient();
      const isSubscribed = t.subscriptionsStarted();
      const events: typeof progress = [];
      const done = new Promise<void>((resolve, reject) => {
        const stop = client.subscribe<{ campaignProgress: (typeof progress)[number] }>(
          {
            query: `subscription($id: ID) { campaignProgress(campaignId: $id) { status cursor stats { ${STATS_FIELDS} } campaign { id code } } }`,
            variables: { id: campaign.id },
          },
          {
            next: (r) => {
              events.push(r.data!.campaignProgress);
              if (r.data!.campaignProgress.status === 'COMPLETED') {
                stop();
                resolve();
              }
            },
            error: reject,
            complete: () => resolve(),
          },
        );
      });
      await isSubscribed;
      const executed = await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      expect(executed.userErrors).toEqual([]);
      expect(executed.campaign?.status).toBe('RUNNING');
      await done;
      progress = events;
      campaign = await getCampaign(t, campaign.id);
    }, 30_000);

    it('reaches exactly the customers in VIP and LOYAL when it started, once each', async () => {
      expect(campaign.status).toBe('COMPLETED');
      const deliveries = await allDeliveries(t, campaign.id);
      const expected = [...vip, ...loyal].map((c) => c.id).sort();
      expect(deliveries.map((d) => d.customer.id).sort()).toEqual(expected);
      expect(new Set(deliveries.map((d) => d.customer.id)).size).toBe(deliveries.length);
      expect(deliveries.every((d) => d.status === 'DELIVERED' && d.attempts === 1)).toBe(true);
    });

    it('keeps stats that add up: targeted = sent = delivered + failed', () => {
      expect(campaign.stats).toMatchObject({ targeted: 5, sent: 5, delivered: 5, failed: 0 });
      expect(campaign.startedAt).not.toBeNull();
      expect(campaign.completedAt).not.toBeNull();
    });

    it('renders each message with the customer fields HTML-escaped, in the outbox', async () => {
      const res = await t.graphql<{
        outboxMessages: { totalCount: number; edges: Array<{ node: { body: string; customer: { id: string } } }> };
      }>(
        'query($id: ID!) { outboxMessages(campaignId: $id, first: 50) { totalCount edges { node { id body customer { id } } } } }',
        { id: campaign.id },
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data?.outboxMessages.totalCount).toBe(5);
      const kim = res.body.data!.outboxMessages.edges.find((e) => e.node.customer.id === vip[0]!.id)!;
      expect(kim.node.body).toBe('Dear Kim &lt;b&gt;&quot;VIP&quot;&lt;&#x2F;b&gt; &amp; Co (VIP), spring is here.');
    });

    it('streamed progress over graphql-ws, ending with COMPLETED and the final stats', () => {
      expect(progress.length).toBeGreaterThanOrEqual(2);
      expect(progress[0]!.status).toBe('RUNNING');
      const last = progress.at(-1)!;
      expect(last.status).toBe('COMPLETED');
      expect(last.stats).toEqual(campaign.stats);
      const cursors = progress.map((p) => p.cursor);
      expect(new Set(cursors).size).toBe(cursors.length);
    });

    it('replays what a late subscriber missed with `after`', async () => {
      const client = t.wsClient();
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const stop = client.subscribe<{ campaignProgress: { status: string } }>(
          {
            query:
              'subscription($id: ID, $after: String) { campaignProgress(campaignId: $id, after: $after) { status } }',
            variables: { id: campaign.id, after: progress[0]!.cursor },
          },
          {
            next: (r) => {
              seen.push(r.data!.campaignProgress.status);
              if (r.data!.campaignProgress.status === 'COMPLETED') {
                stop();
                resolve();
              }
            },
            error: reject,
            complete: () => resolve(),
          },
        );
      });
      expect(seen).toEqual(progress.slice(1).map((p) => p.status));
    });

    it('records responses once per kind; responseRate = responded / delivered', async () => {
      const respond = async (customerId: string, kind: string) => {
        const res = await t.graphql<{
          recordCampaignResponse: {
            recorded: boolean;
            delivery: { openedAt: string | null } | null;
            userErrors: Array<{ code: string }>;
          };
        }>(
          'mutation($input: RecordCampaignResponseInput!) { recordCampaignResponse(input: $input) { recorded delivery { openedAt clickedAt } userErrors { code } } }',
          { input: { campaignId: campaign.id, customerId, kind } },
        );
        expect(res.body.errors).toBeUndefined();
        return res.body.data!.recordCampaignResponse;
      };
      expect((await respond(vip[1]!.id, 'OPENED')).recorded).toBe(true);
      const repeated = await Promise.all([respond(vip[1]!.id, 'OPENED'), respond(vip[1]!.id, 'OPENED')]);
      expect(repeated.map((r) => r.recorded)).toEqual([false, false]);
      expect((await respond(vip[1]!.id, 'CLICKED')).recorded).toBe(true);
      const concurrent = await Promise.all([respond(loyal[0]!.id, 'OPENED'), respond(loyal[0]!.id, 'OPENED')]);
      expect(concurrent.map((r) => r.recorded).sort()).toEqual([false, true]);
      expect((await respond(others[0]!.id, 'OPENED')).userErrors).toEqual([{ code: 'NOT_FOUND' }]);
      const stats = (await getCampaign(t, campaign.id)).stats;
      expect(stats).toMatchObject({ responded: 2, opened: 2, clicked: 1, replied: 0, responseRate: 2 / 5 });
    });

    it('attributes a purchase within the window once, to the most recent campaign delivered', async () => {
      const buyer = loyal[1]!;
      clock.advance(DAY_MS);
      const bought = await recordPurchase(t, { customerId: buyer.id, amount: '25000', externalId: 'attr-1' });
      expect(bought.userErrors).toEqual([]);
      await recordPurchase(t, { customerId: buyer.id, amount: '25000', externalId: 'attr-1' }); // a replay
      // Someone who was not a recipient buys too: nothing is attributed for them.
      await recordPurchase(t, { customerId: others[1]!.id, amount: '99000' });
      let stats = (await getCampaign(t, campaign.id)).stats;
      expect(stats).toMatchObject({
        conversions: 1,
        revenue: { amount: '25000', currency: 'KRW' },
        conversionRate: 1 / 5,
      });

      // A newer campaign reaches the same customer: the next purchase is its conversion only.
      const newer = await createCampaign(t, {
        name: 'Loyal follow-up',
        targetSegments: ['LOYAL'],
        message: 'Hi {{name}}',
      });
      await campaignMutation(t, 'executeCampaign', { id: newer.id });
      expect((await settled(t, newer.id)).stats.delivered).toBe(3);
      clock.advance(1_000);
      await recordPurchase(t, { customerId: buyer.id, amount: '7000' });
      expect((await getCampaign(t, newer.id)).stats).toMatchObject({ conversions: 1, revenue: { amount: '7000' } });
      stats = (await getCampaign(t, campaign.id)).stats;
      expect(stats).toMatchObject({ conversions: 1, revenue: { amount: '25000' } });

      // After the window (7 days by default) nothing more is attributed.
      clock.advance(8 * DAY_MS);
      await recordPurchase(t, { customerId: buyer.id, amount: '5000' });
      expect((await getCampaign(t, newer.id)).stats.conversions).toBe(1);
      expect((await getCampaign(t, campaign.id)).stats.conversions).toBe(1);
    });

    it('an unsubscribed customer is left out of later audiences', async () => {
      const res = await t.graphql<{ recordCampaignResponse: { recorded: boolean } }>(
        'mutation($input: RecordCampaignResponseInput!) { recordCampaignResponse(input: $input) { recorded } }',
        { input: { campaignId: campaign.id, customerId: loyal[2]!.id, kind: 'UNSUBSCRIBED' } },
      );
      expect(res.body.data?.recordCampaignResponse.recorded).toBe(true);
      const customer = await t.graphql<{ customer: { unsubscribedAt: string | null } }>(
        'query($id: ID!) { customer(id: $id) { unsubscribedAt } }',
        { id: loyal[2]!.id },
      );
      expect(customer.body.data?.customer.unsubscribedAt).not.toBeNull();
      const next = await createCampaign(t, { name: 'Loyal again', targetSegments: ['LOYAL'], message: 'Hi' });
      await campaignMutation(t, 'executeCampaign', { id: next.id });
      const done = await settled(t, next.id);
      expect(done.stats.targeted).toBe(2);
      const ids = (await allDeliveries(t, next.id)).map((d) => d.customer.id);
      expect(ids).not.toContain(loyal[2]!.id);
    });
  });

  describe('the webhook channel', () => {
    it('retries a provider that fails twice, signs every request, and records a permanent failure', async () => {
      const flaky = await createCustomer(t, { name: 'Flaky Provider Case' });
      const gone = await createCustomer(t, { name: 'Gone Away' });
      for (const c of [flaky, gone]) await recordPurchase(t, { customerId: c.id, amount: '2000000' }); // VIP
      const campaign = await createCampaign(t, {
        name: 'Webhook VIP',
        targetSegments: ['VIP'],
        message: 'Hi {{name}}',
        channel: 'WEBHOOK',
      });
      await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      const done = await settled(t, campaign.id);
      expect(done.status).toBe('COMPLETED');
      expect(done.stats).toMatchObject({ targeted: 4, sent: 4, delivered: 3, failed: 1 });
      const deliveries = await allDeliveries(t, campaign.id, 'id status attempts error customer { id name }');
      const byName = new Map(deliveries.map((d) => [d.customer.name, d]));
      expect(byName.get('Flaky Provider Case')).toMatchObject({ status: 'DELIVERED', attempts: 3, error: null });
      expect(byName.get('Gone Away')).toMatchObject({
        status: 'FAILED',
        attempts: 1,
        error: 'the provider answered HTTP 410',
      });
      const flakyRequests = provider.received.filter((r) => r.body.recipient.name === 'Flaky Provider Case');
      expect(flakyRequests).toHaveLength(3);
      expect(new Set(flakyRequests.map((r) => r.key)).size).toBe(1); // one idempotency key for every try
      expect(provider.received.every((r) => r.valid)).toBe(true);
      expect(flakyRequests[0]!.body.message).toBe('Hi Flaky Provider Case');
    });
  });

  describe('scheduling', () => {
    it('a scheduled campaign waits for its time, then sends', async () => {
      const at = new Date(clock.now().getTime() + 3_600_000);
      const campaign = await createCampaign(t, {
        name: 'Later',
        targetSegments: ['NEW'],
        message: 'Hi',
        scheduledAt: at.toISOString(),
      });
      const executed = await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      expect(executed.campaign).toMatchObject({ status: 'SCHEDULED', scheduledAt: at.toISOString() });
      await t.server.domain.campaignRunner.runNow(); // the runner looked for due campaigns: none
      expect((await getCampaign(t, campaign.id)).status).toBe('SCHEDULED');
      clock.advance(3_600_000);
      const done = await settled(t, campaign.id);
      expect(done.status).toBe('COMPLETED');
      expect(done.startedAt).toBe(at.toISOString());
      expect(done.stats.sent).toBe(done.stats.targeted);
    });

    it('a scheduled campaign can be cancelled before it starts', async () => {
      const campaign = await createCampaign(t, {
        name: 'Never',
        targetSegments: ['NEW'],
        message: 'Hi',
        scheduledAt: new Date(clock.now().getTime() + 60_000).toISOString(),
      });
      await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      expect((await campaignMutation(t, 'cancelCampaign', { id: campaign.id })).campaign?.status).toBe('CANCELLED');
      clock.advance(120_000);
      await t.server.domain.campaignRunner.runNow(); // past its time: the runner leaves it alone
      expect(await getCampaign(t, campaign.id)).toMatchObject({ status: 'CANCELLED', startedAt: null });
    });
  });

  describe('access', () => {
    it('ADMIN and MARKETING run campaigns; SALES and ANALYST read results; SUPPORT does neither', async () => {
      const as = async (role: 'SALES' | 'MARKETING' | 'SUPPORT' | 'ANALYST', query: string, variables = {}) =>
        t.graphql(query, variables, { authorization: `Bearer ${await t.tokenFor(role)}` });
      const create =
        'mutation { createCampaign(input: { name: "r", targetSegments: [NEW], message: "Hi" }) { campaign { id } userErrors { code } } }';
      for (const role of ['SALES', 'SUPPORT', 'ANALYST'] as const)
        expect((await as(role, create)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const made = (await as('MARKETING', create)).body.data as { createCampaign: { campaign: { id: string } } };
      expect(made.createCampaign.campaign.id).toBeTruthy();

      const read = `{ campaigns(first: 50) { totalCount edges { node { ${CAMPAIGN_FIELDS} } } } }`;
      for (const role of ['SALES', 'MARKETING', 'ANALYST'] as const)
        expect((await as(role, read)).body.errors).toBeUndefined();
      expect((await as('SUPPORT', read)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

      // ANALYST sees recipients with personal data masked, and never the outbox.
      const sent = (
        await t.graphql<{ campaigns: { edges: Array<{ node: { id: string; status: string } }> } }>(
          '{ campaigns(filter: { statuses: [COMPLETED] }, first: 1) { edges { node { id status } } } }',
        )
      ).body.data!.campaigns.edges[0]!.node;
      const masked = await as(
        'ANALYST',
        'query($id: ID!) { campaign(id: $id) { deliveries(first: 5) { edges { node { customer { email } } } } } }',
        {
          id: sent.id,
        },
      );
      expect(masked.body.errors).toBeUndefined();
      const outbox = await as('ANALYST', 'query($id: ID!) { outboxMessages(campaignId: $id) { totalCount } }', {
        id: sent.id,
      });
      expect(outbox.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const respond = await as(
        'SALES',
        'mutation($input: RecordCampaignResponseInput!) { recordCampaignResponse(input: $input) { recorded } }',
        { input: { campaignId: sent.id, customerId: vip[0]!.id, kind: 'OPENED' } },
      );
      expect(respond.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('a WEBHOOK campaign needs the provider configured: refused at start without it', () => {
      expect(() => loadConfig({ CAMPAIGN_WEBHOOK_URL: 'http://127.0.0.1:9/' })).toThrow(/CAMPAIGN_WEBHOOK_SECRET/);
      expect(() => loadConfig({ CAMPAIGN_WEBHOOK_URL: 'ftp://x/', CAMPAIGN_WEBHOOK_SECRET: WEBHOOK_SECRET })).toThrow(
        /CAMPAIGN_WEBHOOK_URL/,
      );
    });
  });

  it('lists campaigns newest first with filters and pages', async () => {
    const res = await t.graphql<{ campaigns: { totalCount: number; edges: Array<{ node: { code: string } }> } }>(
      '{ campaigns(filter: { statuses: [COMPLETED], channels: [OUTBOX] }, first: 2) { totalCount edges { node { code } } pageInfo { hasNextPage endCursor } } }',
    );
    expect(res.body.errors).toBeUndefined();
    const codes = res.body.data!.campaigns.edges.map((e) => e.node.code);
    expect(codes).toHaveLength(2);
    expect([...codes].sort().reverse()).toEqual(codes);
    expect(res.body.data!.campaigns.totalCount).toBeGreaterThanOrEqual(4);
    await eventually(
      async () =>
        (await t.graphql('{ campaigns(after: "garbage") { totalCount } }')).body.errors?.[0]?.extensions?.code,
      (code) => code === 'BAD_USER_INPUT',
    );
  });

  it('after a crash between a response or conversion and its counter, the restart recomputes the counters', async () => {
    const campaign = (
      await t.graphql<{ campaigns: { edges: Array<{ node: CampaignView }> } }>(
        `{ campaigns(filter: { statuses: [COMPLETED], segments: [VIP] }, first: 1) { edges { node { ${CAMPAIGN_FIELDS} } } } }`,
      )
    ).body.data!.campaigns.edges[0]!.node;
    const localId = (id: string) => new mongoose.Types.ObjectId(Buffer.from(id, 'base64url').toString().split(':')[1]);
    const campaignId = localId(campaign.id);
    const recipient = (await allDeliveries(t, campaign.id)).find((d) => d.status === 'DELIVERED')!;
    const customerId = localId(recipient.customer.id);
    const db = mongoose.connection.db!;
    const twoMinutesAgo = new Date(clock.now().getTime() - 120_000);
    // What a writer killed after its compare-and-set but before the campaign's $inc leaves: the
    // journal entry, a REPLIED response on the delivery and a conversion, no counters moved.
    await db
      .collection('campaign_stats_repairs')
      .insertOne({ _id: 'crashed' as never, campaignId, startedAt: twoMinutesAgo });
    await db
      .collection('campaign_deliveries')
      .updateOne(
        { _id: `${String(campaignId)}:${String(customerId)}` as never },
        { $set: { 'responses.REPLIED': twoMinutesAgo }, $min: { respondedAt: twoMinutesAgo } },
      );
    await db.collection('campaign_conversions').insertOne({
      _id: 'x:crashed-purchase' as never,
      campaignId,
      customerId,
      deliveryId: `${String(campaignId)}:${String(customerId)}`,
      amountMinor: 4_000,
      occurredAt: twoMinutesAgo,
    });
    const before = (await getCampaign(t, campaign.id)).stats;

    await t.restart();
    const after = (await getCampaign(t, campaign.id)).stats;
    expect(after.replied).toBe(before.replied + 1);
    expect(after.conversions).toBe(before.conversions + 1);
    expect(Number(after.revenue.amount)).toBe(Number(before.revenue.amount) + 4_000);
    expect(after.responded).toBeGreaterThanOrEqual(before.responded);
    expect(after.sent).toBe(after.delivered + after.failed);
    expect(await mongoose.connection.db!.collection('campaign_stats_repairs').countDocuments()).toBe(0);
  });
});
