/**
 * deleteCustomer leaves nothing of the customer's personal data to read anywhere: not in a
 * subscription replayed from an early cursor — from the erasing process's memory, from the
 * memory of another process that held the events before the erasure, or from the database —
 * and not in the audit log, whose entries stay with the personal values replaced.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { createCustomer, recordInteraction, recordPurchase } from './helpers/crm.js';
import { eventually, spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const DELETE = 'mutation($id: ID!) { deleteCustomer(id: $id) { deletedId userErrors { code } } }';
const SEGMENT_CHANGES =
  'subscription($after: String) { segmentChanged(after: $after) { cursor from to customer { id name email phone tags } } }';
const TIMELINE =
  'subscription($after: String) { interactionRecorded(after: $after) { cursor interaction { id type description customer { id name email phone tags } } } }';

type Profile = { id: string; name: string; email: string | null; phone: string | null; tags: string[] };
type SegmentChange = { segmentChanged: { cursor: string; customer: Profile } };
type TimelineEvent = {
  interactionRecorded: { cursor: string; interaction: { description: string | null; customer: Profile } };
};

describe('erasure reaches every copy of the personal data', () => {
  let t: TestServer; // the process that erases
  let other: ApiProcess; // another instance on the same database
  let otherWsUrl = '';
  const otherClients: Client[] = [];
  beforeAll(async () => {
    t = await startTestServer();
    other = spawnEntryPoint('src/main.ts', { MONGODB_URI: process.env.MONGODB_URI, MONGODB_DB: t.dbName });
    otherWsUrl = (await other.waitForLine(/ready at (http:\/\/\S+)\n/))[1]!.replace(/^http/, 'ws');
  }, 120_000);
  afterAll(async () => {
    await Promise.all(otherClients.map((c) => c.dispose()));
    other.child.kill('SIGTERM');
    await other.exited;
    await t.stop();
  });

  function clientOf(process: 'this' | 'other', token: string): Client {
    const connectionParams = { authorization: `Bearer ${token}` };
    if (process === 'this') return t.wsClient({ connectionParams });
    const client = createClient({ url: otherWsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
    otherClients.push(client);
    return client;
  }

  /** Everything a subscription delivers from `after` on, up to and including the result `isLast` picks. */
  function replay<T>(client: Client, query: string, after: string, isLast: (data: T) => boolean) {
    return new Promise<FormattedExecutionResult<T, unknown>[]>((resolve, reject) => {
      const results: FormattedExecutionResult<T, unknown>[] = [];
      const unsubscribe = client.subscribe<T>(
        { query, variables: { after } },
        {
          next: (result) => {
            results.push(result);
            if (result.data && isLast(result.data)) {
              unsubscribe();
              resolve(results);
            }
          },
          error: reject,
          complete: () => reject(new Error(`the replay ended early: ${JSON.stringify(results)}`)),
        },
      );
    });
  }

  /** Both live streams replayed from `after`, up to the given marker customer's events. */
  async function replayBoth(client: Client, after: string, marker: string) {
    const [segmentChanges, timeline] = await Promise.all([
      replay<SegmentChange>(client, SEGMENT_CHANGES, after, (d) => d.segmentChanged.customer.name === marker),
      replay<TimelineEvent>(client, TIMELINE, after, (d) => d.interactionRecorded.interaction.customer.name === marker),
    ]);
    return { segmentChanges, timeline };
  }

  /** The cursor of an event from before the scenario: a live subscription, probed until it sees one. */
  async function cursorOfAnEarlyEvent(): Promise<string> {
    const cursors: string[] = [];
    const stop = t.wsClient().subscribe<SegmentChange>(
      { query: 'subscription { segmentChanged { cursor customer { id name email phone tags } } }' },
      {
        next: (r) => void (r.data && cursors.push(r.data.segmentChanged.cursor)),
        error: () => {},
        complete: () => {},
      },
    );
    await eventually(
      async () => {
        if (!cursors.length) await createCustomer(t, { name: 'Early Probe' });
        return cursors.length;
      },
      (n) => n > 0,
    );
    stop();
    return cursors[0]!;
  }

  async function addMarker(name: string): Promise<void> {
    const marker = await createCustomer(t, { name });
    await recordInteraction(t, { customerId: marker.id, type: 'INQUIRY', channel: 'WEB', description: 'marker' });
  }

  // Name, e-mail, phone (as typed and as stored), tag and both descriptions.
  const PERSONAL = /Haneul|haneul\.seo|7777-8888|821077778888|scarf-lover|blue scarf|gift wrap/i;

  it('a replay from an early cursor after deleteCustomer carries none of the erased values, from any memory or the database', async () => {
    const early = await cursorOfAnEarlyEvent();
    const haneul = await createCustomer(t, {
      name: 'Seo Haneul',
      email: 'haneul.seo@example.com',
      phone: '010-7777-8888',
      tags: ['scarf-lover'],
    });
    await recordPurchase(t, { customerId: haneul.id, amount: '39000', description: 'the blue scarf, refunded later' });
    await recordInteraction(t, { customerId: haneul.id, type: 'INQUIRY', channel: 'EMAIL', description: 'gift wrap?' });
    await addMarker('Marker Before');
    const support = await t.tokenFor('SUPPORT');

    // Both processes hold the events in memory: their tailers passed them, and replays show them.
    for (const process of ['this', 'other'] as const) {
      const before = await replayBoth(clientOf(process, support), early, 'Marker Before');
      expect(JSON.stringify(before)).toMatch(/Seo Haneul.*haneul\.seo@example\.com.*\+821077778888/);
      expect(JSON.stringify(before.timeline)).toMatch(/blue scarf.*gift wrap/);
    }

    expect((await t.graphql(DELETE, { id: haneul.id })).body.data).toEqual({
      deleteCustomer: { deletedId: haneul.id, userErrors: [] },
    });
    await addMarker('Marker After');

    for (const process of ['this', 'other'] as const)
      for (const token of [support, t.adminToken]) {
        const after = await replayBoth(clientOf(process, token), early, 'Marker After');
        expect(JSON.stringify(after)).not.toMatch(PERSONAL);
        // Still the customer's events, anonymous.
        const erased = after.segmentChanges.filter((r) => r.data?.segmentChanged.customer.id === haneul.id);
        expect(erased.map((r) => r.data!.segmentChanged.customer)).toContainEqual({
          id: haneul.id,
          name: 'Erased customer',
          email: null,
          phone: null,
          tags: [],
        });
        const timeline = after.timeline.filter(
          (r) => r.data?.interactionRecorded.interaction.customer.id === haneul.id,
        );
        expect(timeline.map((r) => r.data!.interactionRecorded.interaction.description)).toEqual([null, null]);
      }

    // A process started after the erasure has nothing in memory: it replays from the database.
    await t.stop({ keepData: true });
    t = await startTestServer({ keepData: true });
    const fromDatabase = await replayBoth(clientOf('this', support), early, 'Marker After');
    expect(JSON.stringify(fromDatabase)).not.toMatch(PERSONAL);
    expect(JSON.stringify(fromDatabase)).toContain(haneul.id);
  });

  it('the audit log keeps the entries about an erased customer, with their personal values replaced', async () => {
    const AUDIT = `query($target: String) { auditLog(first: 100, filter: { targetId: $target }) {
      edges { node { fields targetIds input changes { targetId field before after } } } } }`;
    type Entry = {
      fields: string[];
      targetIds: string[];
      input: string;
      changes: Array<{ targetId: string; field: string; before: string | null; after: string | null }>;
    };
    const auditOf = async (target?: string) =>
      (
        await t.graphql<{ auditLog: { edges: Array<{ node: Entry }> } }>(AUDIT, { target })
      ).body.data!.auditLog.edges.map((e) => e.node);

    const jun = await createCustomer(t, { name: 'Han Jun', email: 'jun.han@example.com', phone: '010-4444-5555' });
    const neighbour = await createCustomer(t, { name: 'Neighbour Kept', email: 'kept@example.com' });
    await t.graphql(
      'mutation($id: ID!) { updateCustomer(id: $id, input: { email: "jun.h@example.com", tags: ["jun-fan"] }) { userErrors { code } } }',
      { id: jun.id },
    );
    await recordPurchase(t, { customerId: jun.id, amount: '12000', description: "Jun's jacket" });
    const batch = await t.graphql(
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }',
      {
        inputs: [
          { customerId: jun.id, type: 'COMPLAINT', channel: 'PHONE', description: 'jacket zip broke for Jun' },
          { customerId: neighbour.id, type: 'INQUIRY', channel: 'WEB', description: 'neighbour question stays' },
        ],
      },
    );
    expect(batch.body.data).toEqual({ recordInteractions: { recordedCount: 2 } });
    const JUN = /Han Jun|jun\.han|jun\.h@|4444-5555|jun-fan|jacket/i;
    const before = await auditOf(jun.id);
    expect(before.map((e) => e.fields[0])).toEqual([
      'recordInteractions',
      'recordPurchase',
      'updateCustomer',
      'createCustomer',
    ]);
    expect(JSON.stringify(before)).toMatch(JUN);

    await t.graphql(DELETE, { id: jun.id });

    const after = await auditOf(jun.id);
    expect(after.map((e) => e.fields[0])).toEqual(['deleteCustomer', ...before.map((e) => e.fields[0])]);
    expect(JSON.stringify(await auditOf())).not.toMatch(JUN);
    const [, interactions, purchase, update, create] = after;
    expect(JSON.parse(create!.input)).toEqual({
      createCustomer: { input: { name: '[erased]', email: '[erased]', phone: '[erased]' } },
    });
    expect(JSON.parse(update!.input)).toEqual({
      updateCustomer: { id: jun.id, input: { email: '[erased]', tags: '[erased]' } },
    });
    expect(update!.changes).toEqual([
      { targetId: jun.id, field: 'email', before: '"[erased]"', after: '"[erased]"' },
      { targetId: jun.id, field: 'tags', before: '"[erased]"', after: '"[erased]"' },
    ]);
    expect(JSON.parse(purchase!.input)).toMatchObject({
      recordPurchase: { input: { customerId: jun.id, amount: '12000', description: '[erased]' } },
    });
    // What the same entry holds for another customer stays.
    expect(JSON.parse(interactions!.input)).toMatchObject({
      recordInteractions: {
        inputs: [
          { customerId: jun.id, description: '[erased]' },
          { customerId: neighbour.id, description: 'neighbour question stays' },
        ],
      },
    });
    expect(JSON.stringify(await auditOf(neighbour.id))).toContain('Neighbour Kept');
  });
});
