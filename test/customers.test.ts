import { describe, expect, it } from '@jest/globals';
import { createCustomer, CUSTOMER_FIELDS, getCustomer, recordPurchase, type CustomerView } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

type Conn = {
  customers: {
    edges: Array<{ cursor: string; node: CustomerView }>;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    totalCount: number;
  };
};

describe('customers', () => {
  const t = useTestServer();

  async function list(args: string, variables?: Record<string, unknown>) {
    const res = await t.graphql<Conn>(
      `query($after: String) { customers(${args}, after: $after) { edges { cursor node { ${CUSTOMER_FIELDS} } } pageInfo { hasNextPage endCursor } totalCount } }`,
      variables,
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.customers;
  }

  it('creates a customer with a sequential code, normalised email and E.164 phone, as NEW', async () => {
    const c = await createCustomer(t, {
      name: '  Kim   Minji ',
      email: ' Minji.Kim@Example.COM ',
      phone: '010-1234-5678',
      tags: ['vip-lounge', 'vip-lounge'],
    });
    expect(c).toMatchObject({
      code: 'C00001',
      name: 'Kim Minji',
      email: 'minji.kim@example.com',
      phone: '+821012345678',
      segment: 'NEW',
      tags: ['vip-lounge'],
    });
    expect(c.totalPurchases).toEqual({ amount: '0', currency: 'KRW' });
    expect(c.averagePurchase).toBeNull();
    expect(c.lastInteractionAt).toBeNull();
    const again = await getCustomer(t, c.id);
    expect(again).toEqual(c);
  });

  it('refuses a duplicate email with a DUPLICATE userError and creates nothing', async () => {
    await createCustomer(t, { name: 'Lee Jisoo', email: 'jisoo@example.com' });
    const before = (await list('first: 1')).totalCount;
    const res = await t.graphql<{ createCustomer: { customer: null; userErrors: unknown[] } }>(
      'mutation { createCustomer(input: { name: "Other", email: "JISOO@example.com" }) { customer { id } userErrors { field message code } } }',
    );
    expect(res.status).toBe(200);
    expect(res.body.data?.createCustomer).toEqual({
      customer: null,
      userErrors: [{ field: ['input', 'email'], message: 'another customer has this email', code: 'DUPLICATE' }],
    });
    expect((await list('first: 1')).totalCount).toBe(before);
  });

  it('lets exactly one of two concurrent creates with one email win', async () => {
    const create = () =>
      t.graphql<{ createCustomer: { customer: { id: string } | null; userErrors: Array<{ code: string }> } }>(
        'mutation { createCustomer(input: { name: "Race", email: "race@example.com" }) { customer { id } userErrors { code } } }',
      );
    const results = await Promise.all([create(), create(), create()]);
    const payloads = results.map((r) => r.body.data!.createCustomer);
    expect(payloads.filter((p) => p.customer).length).toBe(1);
    expect(payloads.filter((p) => p.userErrors[0]?.code === 'DUPLICATE').length).toBe(2);
  });

  it('gives concurrent creates distinct sequential codes', async () => {
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => createCustomer(t, { name: `Batch ${i}` })));
    const codes = created.map((c) => c.code);
    expect(new Set(codes).size).toBe(20);
    for (const code of codes) expect(code).toMatch(/^C\d{5}$/);
  });

  it('reports invalid email and phone as INVALID userErrors on the field', async () => {
    const res = await t.graphql<{ createCustomer: { userErrors: unknown[] } }>(
      'mutation { createCustomer(input: { name: "X", phone: "12" }) { userErrors { field code } } }',
    );
    expect(res.body.data?.createCustomer.userErrors).toEqual([{ field: ['input', 'phone'], code: 'INVALID' }]);
    const bad = await t.graphql<{ createCustomer: { userErrors: unknown[] } }>(
      'mutation { createCustomer(input: { name: "X", email: "not-an-email" }) { userErrors { field code } } }',
    );
    expect(bad.body.data?.createCustomer.userErrors).toEqual([{ field: ['input', 'email'], code: 'INVALID' }]);
  });

  it('updates a profile: email change, phone removal, duplicate refused', async () => {
    const a = await createCustomer(t, { name: 'Park Doyun', email: 'doyun@example.com', phone: '+82 10 2222 3333' });
    await createCustomer(t, { name: 'Choi Yuna', email: 'yuna@example.com' });
    const upd = await t.graphql<{ updateCustomer: { customer: CustomerView; userErrors: unknown[] } }>(
      'mutation($id: ID!) { updateCustomer(id: $id, input: { email: "DOYUN.PARK@example.com", phone: null, name: "Park Do-yun" }) { customer { name email phone } userErrors { code } } }',
      { id: a.id },
    );
    expect(upd.body.data?.updateCustomer).toEqual({
      customer: { name: 'Park Do-yun', email: 'doyun.park@example.com', phone: null },
      userErrors: [],
    });
    const dup = await t.graphql<{ updateCustomer: { customer: null; userErrors: Array<{ code: string }> } }>(
      'mutation($id: ID!) { updateCustomer(id: $id, input: { email: "yuna@example.com" }) { customer { id } userErrors { code } } }',
      { id: a.id },
    );
    expect(dup.body.data?.updateCustomer.userErrors).toEqual([{ code: 'DUPLICATE' }]);
    expect((await getCustomer(t, a.id)).email).toBe('doyun.park@example.com');
  });

  it('finds customers by prefix of name, any name word, email, phone and code', async () => {
    const c = await createCustomer(t, {
      name: 'Han Seoyeon',
      email: 'seoyeon.han@example.com',
      phone: '010-7777-1234',
    });
    for (const search of ['han s', 'seoy', 'SEOYEON.H', '010-7777', '8210777', c.code.toLowerCase()]) {
      const found = await list('first: 10, filter: { search: $search }'.replace('$search', JSON.stringify(search)));
      expect(found.edges.map((e) => e.node.id)).toContain(c.id);
    }
    const none = await list('first: 10, filter: { search: "zzz-nobody" }');
    expect(none.totalCount).toBe(0);
    // A search string is text, never a pattern or an operator.
    const pattern = await list('first: 10, filter: { search: ".*" }');
    expect(pattern.totalCount).toBe(0);
  });

  it('filters by tags, segments and minimum total purchases', async () => {
    const big = await createCustomer(t, { name: 'Big Spender', tags: ['wholesale', 'seoul'] });
    await createCustomer(t, { name: 'Small Spender', tags: ['seoul'] });
    await recordPurchase(t, { customerId: big.id, amount: '300000' });
    const tagged = await list('first: 50, filter: { tags: ["seoul", "wholesale"] }');
    expect(tagged.edges.map((e) => e.node.id)).toEqual([big.id]);
    const rich = await list('first: 50, filter: { minTotalPurchases: "300000" }');
    expect(rich.edges.map((e) => e.node.id)).toEqual([big.id]);
    const newOnes = await list('first: 100, filter: { segments: [NEW] }');
    expect(newOnes.totalCount).toBe(newOnes.edges.length);
    expect(newOnes.edges.every((e) => e.node.segment === 'NEW')).toBe(true);
    const bad = await t.graphql('{ customers(filter: { minTotalPurchases: "12.5" }) { totalCount } }');
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // Found by the fuzz test: a tag over the length limit in a filter was an internal error.
    const longTag = await t.graphql('query($tags: [String!]) { customers(filter: { tags: $tags }) { totalCount } }', {
      tags: ['x'.repeat(51)],
    });
    expect(longTag.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('pages through every customer exactly once, in each order, with stable cursors', async () => {
    const all = (await list('first: 100')).totalCount;
    for (const orderBy of [
      '{ field: NAME, direction: ASC }',
      '{ field: JOINED_AT }',
      '{ field: TOTAL_PURCHASES }',
      '{ field: LAST_INTERACTION_AT, direction: ASC }',
    ]) {
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: Conn['customers'] = await list(`first: 7, orderBy: ${orderBy}`, { after });
        seen.push(...page.edges.map((e) => e.node.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen.length).toBe(all);
      expect(new Set(seen).size).toBe(all);
    }
    const byName = (await list('first: 100, orderBy: { field: NAME, direction: ASC }')).edges.map((e) =>
      e.node.name.toLowerCase(),
    );
    expect(byName).toEqual([...byName].sort());
  });

  it('refuses a foreign cursor and caps page size at 100', async () => {
    const bad = await t.graphql('{ customers(first: 5, after: "bm9wZQ") { totalCount } }');
    expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const big = await t.graphql<Conn>('{ customers(first: 1000) { edges { cursor } } }');
    expect(big.body.data!.customers.edges.length).toBeLessThanOrEqual(100);
  });

  it('fetches a customer through node(id), and null for an unknown id', async () => {
    const c = await createCustomer(t, { name: 'Node Lookup' });
    const res = await t.graphql<{ node: { __typename: string; code: string } | null; missing: null }>(
      'query($id: ID!) { node(id: $id) { __typename ... on Customer { code } } missing: customer(id: "Q3VzdG9tZXI6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw") { id } }',
      { id: c.id },
    );
    expect(res.body.data).toEqual({ node: { __typename: 'Customer', code: c.code }, missing: null });
  });
});
