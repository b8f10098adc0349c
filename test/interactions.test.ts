import { describe, expect, it } from '@jest/globals';
import mongoose, { Types } from 'mongoose';
import { addCustomerTag, incrementAggregatesMany } from '../src/modules/customers/index.js';
import { Customer, type CustomerDoc } from '../src/modules/customers/model.js';
import { createCustomer, getCustomer, recordInteraction, recordPurchase, type RecordPayload } from './helpers/crm.js';
import { useTestServer, type GraphQLResponse } from './helpers/server.js';

describe('interactions', () => {
  const t = useTestServer();

  it('counts a purchase once and exactly, in minor units', async () => {
    const c = await createCustomer(t, { name: 'Exact Buyer' });
    const first = await recordPurchase(t, {
      customerId: c.id,
      amount: '15000',
      channel: 'STORE',
      description: 'coffee beans',
    });
    expect(first.userErrors).toEqual([]);
    expect(first.interaction).toMatchObject({ type: 'PURCHASE', amount: { amount: '15000' } });
    await recordPurchase(t, { customerId: c.id, amount: '2500' });
    expect(await getCustomer(t, c.id)).toMatchObject({
      purchaseCount: 2,
      totalPurchases: { amount: '17500', currency: 'KRW' },
      averagePurchase: { amount: '8750' },
    });
  });

  it('a replayed externalId returns the original and changes nothing', async () => {
    const c = await createCustomer(t, { name: 'Replay Buyer' });
    const first = await recordPurchase(t, { customerId: c.id, amount: '50000', externalId: 'order-1001' });
    const replay = await recordPurchase(t, { customerId: c.id, amount: '50000', externalId: 'order-1001' });
    expect(first.isReplay).toBe(false);
    expect(replay.isReplay).toBe(true);
    expect(replay.interaction).toEqual(first.interaction);
    expect(await getCustomer(t, c.id)).toMatchObject({ purchaseCount: 1, totalPurchases: { amount: '50000' } });
  });

  it('two identical requests at once produce one interaction and one purchase', async () => {
    const c = await createCustomer(t, { name: 'Double Click' });
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        recordPurchase(t, { customerId: c.id, amount: '7000', externalId: 'double-click-1' }),
      ),
    );
    expect(results.filter((r) => !r.isReplay && r.userErrors.length === 0)).toHaveLength(1);
    expect(new Set(results.map((r) => r.interaction?.id)).size).toBe(1);
    expect(await getCustomer(t, c.id)).toMatchObject({ purchaseCount: 1, totalPurchases: { amount: '7000' } });
    const list = await t.graphql<{ interactions: { totalCount: number } }>(
      'query($id: ID!) { interactions(filter: { customerId: $id }) { totalCount } }',
      { id: c.id },
    );
    expect(list.body.data?.interactions.totalCount).toBe(1);
    // Every attempt cleared its own journal entry, the losing ones too.
    expect(await mongoose.connection.db!.collection('pending_applications').countDocuments()).toBe(0);
  });

  it('refuses an externalId reused for a different interaction', async () => {
    const a = await createCustomer(t, { name: 'Key Owner' });
    const b = await createCustomer(t, { name: 'Key Thief' });
    await recordPurchase(t, { customerId: a.id, amount: '1000', externalId: 'shared-key' });
    const clash = await recordPurchase(t, { customerId: b.id, amount: '1000', externalId: 'shared-key' });
    expect(clash.userErrors).toEqual([
      { field: ['input', 'externalId'], message: expect.any(String), code: 'DUPLICATE' },
    ]);
    expect((await getCustomer(t, b.id)).purchaseCount).toBe(0);
  });

  it('refuses bad input with a userError on the field and changes nothing', async () => {
    const c = await createCustomer(t, { name: 'Careful' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ type: 'PURCHASE', channel: 'WEB' }, 'amount'],
      [{ type: 'INQUIRY', channel: 'WEB', amount: '100' }, 'amount'],
      [{ type: 'PURCHASE', channel: 'WEB', amount: '100.5' }, 'amount'],
      [{ type: 'PURCHASE', channel: 'WEB', amount: '-5' }, 'amount'],
      [{ type: 'PURCHASE', channel: 'WEB', amount: '0' }, 'amount'],
      [{ type: 'PURCHASE', channel: 'WEB', amount: '100', currency: 'USD' }, 'currency'],
      [{ type: 'INQUIRY', channel: 'WEB', occurredAt: new Date(Date.now() + 3_600_000).toISOString() }, 'occurredAt'],
    ];
    for (const [input, field] of cases) {
      const res = await recordInteraction(t, { customerId: c.id, ...input });
      expect(res.userErrors).toEqual([expect.objectContaining({ field: ['input', field], code: 'INVALID' })]);
      expect(res.interaction).toBeNull();
    }
    const unknown = await recordInteraction(t, { customerId: 'Q3VzdG9tZXI6bm9wZQ', type: 'INQUIRY', channel: 'WEB' });
    expect(unknown.userErrors[0]?.code).toBe('NOT_FOUND');
    expect(await getCustomer(t, c.id)).toMatchObject({ purchaseCount: 0, lastInteractionAt: null });
    const wrongEnum = await t.graphql(
      'mutation { recordInteraction(input: { customerId: "x", type: TELEPATHY, channel: WEB }) { isReplay } }',
    );
    expect(wrongEnum.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('an imported past interaction never moves lastInteractionAt backward', async () => {
    const c = await createCustomer(t, { name: 'Importer', joinedAt: '2025-01-01T00:00:00.000Z' });
    await recordInteraction(t, {
      customerId: c.id,
      type: 'INQUIRY',
      channel: 'EMAIL',
      occurredAt: '2026-03-01T10:00:00.000Z',
    });
    await recordInteraction(t, {
      customerId: c.id,
      type: 'COMPLAINT',
      channel: 'PHONE',
      occurredAt: '2025-06-01T10:00:00.000Z',
    });
    expect((await getCustomer(t, c.id)).lastInteractionAt).toBe('2026-03-01T10:00:00.000Z');
  });

  it('records a batch with one result per item, in order, each idempotent', async () => {
    const c = await createCustomer(t, { name: 'Batch Buyer' });
    const inputs = [
      { customerId: c.id, type: 'PURCHASE', channel: 'APP', amount: '1000', externalId: 'b-1' },
      { customerId: c.id, type: 'PURCHASE', channel: 'APP', amount: 'oops', externalId: 'b-2' },
      { customerId: c.id, type: 'INQUIRY', channel: 'WEB', externalId: 'b-3' },
      { customerId: c.id, type: 'PURCHASE', channel: 'APP', amount: '1000', externalId: 'b-1' },
    ];
    const q =
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount results { isReplay interaction { externalId } userErrors { field code } } } }';
    type Batch = {
      recordInteractions: {
        recordedCount: number;
        results: Array<Pick<RecordPayload, 'isReplay' | 'userErrors'> & { interaction: { externalId: string } | null }>;
      };
    };
    const res = await t.graphql<Batch>(q, { inputs });
    const batch = res.body.data!.recordInteractions;
    expect(
      batch.results.map((r) => [r.interaction?.externalId ?? null, r.userErrors.map((e) => e.field?.join('.'))]),
    ).toEqual([
      ['b-1', []],
      [null, ['inputs.1.amount']],
      ['b-3', []],
      ['b-1', []],
    ]);
    // The two b-1 items race inside the batch: one records, the other is its replay.
    expect(batch.recordedCount).toBe(2);
    expect(await getCustomer(t, c.id)).toMatchObject({ purchaseCount: 1, totalPurchases: { amount: '1000' } });
    const again = await t.graphql<Batch>(q, { inputs });
    expect(again.body.data!.recordInteractions.recordedCount).toBe(0);
    expect((await getCustomer(t, c.id)).purchaseCount).toBe(1);
  });

  it('applies a large batch across many customers exactly, and makes one VIP along the way', async () => {
    const customers = await Promise.all(Array.from({ length: 5 }, (_, i) => createCustomer(t, { name: `Bulk ${i}` })));
    const inputs = Array.from({ length: 500 }, (_, i) => ({
      customerId: customers[i % 5]!.id,
      type: i % 2 === 0 ? 'PURCHASE' : 'SUPPORT',
      channel: 'APP',
      ...(i % 2 === 0 ? { amount: i === 0 ? '1000000' : '100' } : {}),
      externalId: `bulk-${i}`,
    }));
    const q =
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount results { userErrors { code } } } }';
    const res = await t.graphql<{
      recordInteractions: { recordedCount: number; results: Array<{ userErrors: unknown[] }> };
    }>(q, { inputs });
    expect(res.body.data?.recordInteractions.recordedCount).toBe(500);
    expect(res.body.data?.recordInteractions.results.every((r) => r.userErrors.length === 0)).toBe(true);
    const first = await getCustomer(t, customers[0]!.id);
    // Customer 0 got items 0, 5, 10, …: 100 items, 50 of them purchases (item 0 is 1,000,000).
    expect(first).toMatchObject({
      purchaseCount: 50,
      totalPurchases: { amount: String(1_000_000 + 49 * 100) },
      segment: 'VIP',
    });
    // The move to VIP, written with the aggregates, is in the history once.
    const history = await t.graphql<{
      customer: { segmentHistory: Array<{ from: string; to: string; reason: string }> };
    }>('query($id: ID!) { customer(id: $id) { segmentHistory { from to reason } } }', { id: customers[0]!.id });
    expect(history.body.data?.customer.segmentHistory.filter((h) => h.to === 'VIP')).toEqual([
      { from: 'NEW', to: 'VIP', reason: 'INTERACTION' },
    ]);
    for (const c of customers.slice(1)) {
      // Customers 1 and 3 get only odd (SUPPORT) or only even (PURCHASE) items, by position.
      const got = await getCustomer(t, c.id);
      expect(got.purchaseCount * 100).toBe(Number(got.totalPurchases.amount));
    }
    const again = await t.graphql<{ recordInteractions: { recordedCount: number } }>(q, { inputs });
    expect(again.body.data?.recordInteractions.recordedCount).toBe(0);
    expect((await getCustomer(t, customers[0]!.id)).purchaseCount).toBe(50);
    expect(await mongoose.connection.db!.collection('pending_applications').countDocuments()).toBe(0);
  });

  it('writes a batch of customers together only where each is still as read, and says which', async () => {
    const made = await Promise.all(['Read A', 'Read B', 'Read C'].map((name) => createCustomer(t, { name })));
    const ids = made.map((c) => new Types.ObjectId(Buffer.from(c.id, 'base64url').toString().split(':')[1]));
    const seen = await Promise.all(ids.map((id) => Customer.findById(id).lean<CustomerDoc>()));
    // B is written after it was read: its move must not land on what it was.
    await addCustomerTag(ids[1]!, 'written-meanwhile', new Date());
    const at = new Date('2026-06-01T09:00:00.000Z');
    const by = { interactionCount: 2, purchaseCount: 1, totalPurchasesMinor: 700, latestActivityAt: at };
    const { written, changed } = await incrementAggregatesMany(
      seen.map((c) => ({ seen: c!, by })),
      new Date(),
    );
    expect(changed.map(String)).toEqual([String(ids[1])]);
    expect(written.map((c) => String(c._id)).sort()).toEqual([String(ids[0]), String(ids[2])].sort());
    // What it says it wrote is what is stored, field for field.
    for (const c of written) expect(await Customer.findById(c._id).lean()).toEqual(c);
    const b = await Customer.findById(ids[1]).lean<CustomerDoc>();
    expect(b).toMatchObject({
      interactionCount: 0,
      purchaseCount: 0,
      tags: ['written-meanwhile'],
      rev: seen[1]!.rev + 1,
    });
    expect(written[0]).toMatchObject({ interactionCount: 2, purchaseCount: 1, totalPurchasesMinor: 700 });
    expect(written[0]!.lastInteractionAt).toEqual(at);
    expect(written[0]!.activityAt).toEqual(at);
  });

  it('refuses a batch of more than 1,000 items', async () => {
    const inputs = Array.from({ length: 1001 }, () => ({ customerId: 'x', type: 'INQUIRY', channel: 'WEB' }));
    const res = await t.graphql(
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }',
      { inputs },
    );
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('shows the timeline newest first and pages through it', async () => {
    const c = await createCustomer(t, { name: 'Timeline' });
    for (let day = 1; day <= 5; day++) {
      await recordInteraction(t, {
        customerId: c.id,
        type: 'SUPPORT',
        channel: 'PHONE',
        occurredAt: `2026-0${day}-01T00:00:00.000Z`,
      });
    }
    const q =
      'query($id: ID!, $after: String) { customer(id: $id) { interactions(first: 2, after: $after) { edges { node { occurredAt } } pageInfo { hasNextPage endCursor } totalCount } } }';
    type R = {
      customer: {
        interactions: {
          edges: Array<{ node: { occurredAt: string } }>;
          pageInfo: { hasNextPage: boolean; endCursor: string };
          totalCount: number;
        };
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const res: GraphQLResponse<R> = await t.graphql<R>(q, { id: c.id, after });
      const page = res.body.data!.customer.interactions;
      expect(page.totalCount).toBe(5);
      seen.push(...page.edges.map((e) => e.node.occurredAt.slice(0, 7)));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(['2026-05', '2026-04', '2026-03', '2026-02', '2026-01']);
  });

  it('loads a page of 50 interactions with their customers, and customers with their timelines, in fixed round trips', async () => {
    const customers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createCustomer(t, { name: `Loader ${i}` })),
    );
    for (let i = 0; i < 50; i++)
      await recordInteraction(t, {
        customerId: customers[i % 10]!.id,
        type: 'INQUIRY',
        channel: 'WEB',
        description: 'n+1 probe',
      });
    const client = mongoose.connection.getClient();
    const commands: string[] = [];
    // Background work (the event log's tailer, the consumers and workers) runs meanwhile, and
    // each request reads its signed-in user: only the commands on the data asked for count.
    const listener = (e: { commandName: string; command: Record<string, unknown> }) => {
      const collection = e.command[e.commandName];
      if (collection === 'interactions' || collection === 'customers')
        commands.push(`${e.commandName} ${String(collection)}`);
    };
    client.on('commandStarted', listener);
    try {
      const res = await t.graphql<{ interactions: { edges: Array<{ node: { customer: { name: string } } }> } }>(
        '{ interactions(first: 50, filter: { types: [INQUIRY] }) { edges { node { description customer { name code segment } } } } }',
      );
      expect(res.body.data!.interactions.edges).toHaveLength(50);
    } finally {
      client.off('commandStarted', listener);
    }
    // One query for the page, one batched query for all of its customers.
    expect(commands).toEqual(['find interactions', 'find customers']);

    commands.length = 0;
    client.on('commandStarted', listener);
    try {
      const res = await t.graphql<{
        customers: { edges: Array<{ node: { interactions: { totalCount: number; edges: unknown[] } } }> };
      }>(
        '{ customers(first: 10, filter: { search: "loader" }) { edges { node { name interactions(first: 3) { totalCount edges { node { description } } } } } } }',
      );
      const edges = res.body.data!.customers.edges;
      expect(edges).toHaveLength(10);
      for (const e of edges) expect(e.node.interactions).toMatchObject({ totalCount: 5, edges: [{}, {}, {}] });
    } finally {
      client.off('commandStarted', listener);
    }
    // A page of customers with their timelines: one query each, not one per customer.
    expect(commands).toEqual(['find customers', 'find interactions']);
  });

  it('after a crash mid-write, the restart repairs the customer so the purchase counts exactly once', async () => {
    const c = await createCustomer(t, { name: 'Crash Victim' });
    await recordPurchase(t, { customerId: c.id, amount: '10000', externalId: 'before-crash' });
    // What writers killed between inserting their interactions and updating the customer leave
    // behind: their journal entries and interactions, and a customer without the purchases. One
    // entry as this version writes it (an attempt's items), one as earlier versions wrote them
    // (one entry per interaction).
    const customerId = new mongoose.Types.ObjectId(Buffer.from(c.id, 'base64url').toString().split(':')[1]);
    const db = mongoose.connection.db!;
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await db.collection('pending_applications').insertMany([
      { _id: 'attempt-1' as never, interactionId: 'x:during-crash', customerId, startedAt: twoMinutesAgo },
      {
        _id: 'attempt-2' as never,
        startedAt: twoMinutesAgo,
        items: [{ interactionId: 'x:during-crash-2', customerId }],
      },
    ]);
    const purchase = (externalId: string, amountMinor: number) => ({
      _id: `x:${externalId}` as never,
      customerId,
      type: 'PURCHASE',
      channel: 'WEB',
      occurredAt: twoMinutesAgo,
      recordedAt: twoMinutesAgo,
      amountMinor,
      currency: 'KRW',
      externalId,
    });
    await db
      .collection('interactions')
      .insertMany([purchase('during-crash', 980000), purchase('during-crash-2', 10000)]);
    expect((await getCustomer(t, c.id)).purchaseCount).toBe(1);

    await t.restart();
    const repaired = await getCustomer(t, c.id);
    expect(repaired).toMatchObject({ purchaseCount: 3, totalPurchases: { amount: '1000000' }, segment: 'VIP' });
    // The client retries the request it never got an answer for: nothing changes.
    const retry = await recordPurchase(t, { customerId: c.id, amount: '980000', externalId: 'during-crash' });
    expect(retry.isReplay).toBe(true);
    expect(await getCustomer(t, c.id)).toMatchObject({ purchaseCount: 3, totalPurchases: { amount: '1000000' } });
    expect(await mongoose.connection.db!.collection('pending_applications').countDocuments()).toBe(0);
  });
});
