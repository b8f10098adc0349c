/**
 * Cursors are opaque: no role can read a sort value (a purchase total, say) or an id out of one,
 * and a changed cursor, or one of another list, is refused.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createCustomer, recordPurchase } from './helpers/crm.js';
import { takeSubscription, useTestServer } from './helpers/server.js';

type Page = {
  customers: { edges: Array<{ cursor: string; node: { id: string } }>; pageInfo: { endCursor: string | null } };
};

const BY_TOTAL = `query($after: String) {
  customers(first: 2, orderBy: { field: TOTAL_PURCHASES }, after: $after) {
    edges { cursor node { id } }
    pageInfo { endCursor }
  }
}`;

/** Everything a client could decode out of a cursor without the server's secret. */
const decoded = (cursor: string) => Buffer.from(cursor, 'base64url').toString('latin1');

/** The cursor with one character changed, still valid base64url. */
function tampered(cursor: string): string {
  const at = Math.floor(cursor.length / 2);
  return `${cursor.slice(0, at)}${cursor[at] === 'A' ? 'B' : 'A'}${cursor.slice(at + 1)}`;
}

describe('cursors', () => {
  const t = useTestServer();

  beforeAll(async () => {
    for (const [name, amount] of [
      ['Spender Kim', '987654'],
      ['Spender Lee', '123457'],
      ['Spender Park', '55501'],
    ] as const) {
      const customer = await createCustomer(t, { name });
      await recordPurchase(t, { customerId: customer.id, amount });
    }
  });

  it('carry neither the purchase total nor the id of the item they point at', async () => {
    const res = await t.graphql<Page>(BY_TOTAL);
    expect(res.body.errors).toBeUndefined();
    const { edges, pageInfo } = res.body.data!.customers;
    expect(edges).toHaveLength(2);
    for (const { cursor, node } of edges) {
      expect(decoded(cursor)).not.toMatch(/987654|123457/);
      const localId = Buffer.from(node.id, 'base64url').toString().split(':')[1]!;
      expect(decoded(cursor)).not.toContain(localId);
    }
    expect(pageInfo.endCursor).toBe(edges[1]!.cursor);

    // They still page: the next page is the third customer, once.
    const next = await t.graphql<Page>(BY_TOTAL, { after: pageInfo.endCursor });
    expect(next.body.errors).toBeUndefined();
    expect(next.body.data!.customers.edges.map((e) => e.node.id)).toHaveLength(1);
    const again = await t.graphql<Page>(BY_TOTAL);
    expect(again.body.data!.customers.edges.map((e) => e.cursor)).toEqual(edges.map((e) => e.cursor));
  });

  it('refuses a changed cursor, and a cursor of another list or order', async () => {
    const { endCursor } = (await t.graphql<Page>(BY_TOTAL)).body.data!.customers.pageInfo;
    const changed = await t.graphql(BY_TOTAL, { after: tampered(endCursor!) });
    expect(changed.body.errors?.[0]).toMatchObject({
      message: 'not a cursor from this list',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    const otherOrder = await t.graphql(
      'query($after: String) { customers(first: 2, orderBy: { field: NAME }, after: $after) { totalCount } }',
      { after: endCursor },
    );
    expect(otherOrder.body.errors?.[0]?.message).toBe('not a cursor from this list');
    const otherList = await t.graphql('query($after: String) { interactions(after: $after) { totalCount } }', {
      after: endCursor,
    });
    expect(otherList.body.errors?.[0]?.message).toBe('not a cursor from this list');
  });

  it('seals event cursors too, and a subscription resumes from a sealed one', async () => {
    const SUBSCRIPTION = 'subscription($after: String) { segmentChanged(after: $after) { customer { name } cursor } }';
    type Event = { segmentChanged: { customer: { name: string }; cursor: string } };
    const isSubscribed = t.subscriptionsStarted();
    const live = takeSubscription<Event>(t.wsClient(), SUBSCRIPTION, 1);
    await isSubscribed; // it starts after its handshake: an event from now on reaches it
    await createCustomer(t, { name: 'Event' });
    const [first] = await live;
    const cursor = first!.data!.segmentChanged.cursor;
    // A plain event cursor was base64url JSON of the sequence number: `[17]`.
    expect(decoded(cursor)).not.toMatch(/^\[\d+\]$/);

    await createCustomer(t, { name: 'After The Cursor' });
    const replayed: string[] = await new Promise((resolve, reject) => {
      const names: string[] = [];
      const stop = t.wsClient().subscribe<Event>(
        { query: SUBSCRIPTION, variables: { after: cursor } },
        {
          next: (result) => {
            if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
            names.push(result.data!.segmentChanged.customer.name);
            if (names.at(-1) === 'After The Cursor') {
              stop();
              resolve(names);
            }
          },
          error: reject,
          complete: () => reject(new Error(`completed after ${names.join(', ')}`)),
        },
      );
    });
    expect(replayed).not.toContain(first!.data!.segmentChanged.customer.name);

    const [refused] = await takeSubscription(t.wsClient(), SUBSCRIPTION, 1, { after: tampered(cursor) });
    expect(refused?.errors?.[0]).toMatchObject({
      message: 'after is not a cursor from an event',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});
