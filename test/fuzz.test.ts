/**
 * 5,000 generated malformed or hostile requests against the running server: broken
 * documents, wrong variable types, deep nesting, alias floods, and operator-shaped or otherwise
 * hostile strings in every string input. No request may cause a 5xx or an unexpected
 * (INTERNAL_SERVER_ERROR) error, the process stays up, hostile strings are stored as text,
 * and nothing changes but what the server accepted.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { createCustomer } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';
import { seededRandom } from '../src/shared/prng.js';

const TOTAL = 5_000;

const HOSTILE_STRINGS = [
  '{"$gt": ""}',
  '{"$ne": null}',
  '$where',
  '{"$regex": ".*"}',
  '.*',
  '^',
  '[',
  '(?:',
  '\\',
  "'; DROP TABLE customers; --",
  '<script>alert(1)</script>',
  '',
  ' ',
  'x'.repeat(5_000),
  '\u0000',
  '𝕳𝖊𝖑𝖑𝖔 🙂',
  '1e309',
  'NaN',
  '-0',
  '__proto__',
  'constructor',
  '%s%s%s',
  '../../etc/passwd',
];

const AMOUNTS = [
  '1e9',
  '-1',
  'NaN',
  'Infinity',
  '0x10',
  '1.000.000',
  '1,000',
  '0',
  '',
  ' 5 ',
  '99999999999999999999',
  '12.5',
  '100',
  '{"$gt": 0}',
];

describe('fuzzing the API', () => {
  const t = useTestServer();
  let customerId: string;
  beforeAll(async () => {
    customerId = (await createCustomer(t, { name: 'Fuzz Target' })).id;
  });

  it(`survives ${TOTAL.toLocaleString('en')} hostile requests with structured errors only`, async () => {
    const random = seededRandom(20261125);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const hostile = () => (random() < 0.7 ? pick(HOSTILE_STRINGS) : Math.random().toString(36).slice(2));
    const db = mongoose.connection.db!;
    const before = {
      customers: await db.collection('customers').countDocuments(),
      interactions: await db.collection('interactions').countDocuments(),
    };
    let acceptedCustomers = 0;
    let acceptedInteractions = 0;
    const storedNames = new Map<string, string>();
    const failures: string[] = [];

    const generators: Array<
      () => { query: string; variables?: unknown; check?: (data: Record<string, unknown> | null | undefined) => void }
    > = [
      // Broken documents.
      () => ({
        query: Array.from({ length: 1 + Math.floor(random() * 40) }, () =>
          pick(['{', '}', '(', ')', 'query', 'customers', ':', '$', '!', '"', '...', '@', 'mutation', '#', '\n']),
        ).join(' '),
      }),
      // Deep nesting and alias floods.
      () => ({
        query: `{ ${'customers { edges { node { interactions { edges { node { customer { '.repeat(2 + Math.floor(random() * 6))}id${' } } } } } } }'.repeat(0)}`,
      }),
      () => {
        const depth = 3 + Math.floor(random() * 6);
        return {
          query: `{ ${'customers { edges { node { interactions { edges { node { customer { '.repeat(depth)} name ${'} } } } } } } '.repeat(depth)}}`,
        };
      },
      () => ({
        query: `{ ${Array.from({ length: 20 + Math.floor(random() * 500) }, (_, i) => `a${i}: segmentPolicy { churnedAfterDays }`).join(' ')} }`,
      }),
      // Wrong variable types.
      () => ({
        query: 'query($id: ID!, $first: Int) { customer(id: $id) { name interactions(first: $first) { totalCount } } }',
        variables: {
          id: pick([{ $gt: '' }, ['x'], 42, null, true, hostile()]),
          first: pick([{ $gt: 1 }, '10', -5, 1e12, null, 3.5]),
        },
      }),
      // Hostile strings in every string input of the customer mutations and filters.
      () => {
        const name = hostile();
        return {
          query:
            'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id name } userErrors { code } } }',
          variables: {
            input: {
              name,
              email: random() < 0.5 ? hostile() : undefined,
              phone: random() < 0.5 ? hostile() : undefined,
              tags: random() < 0.5 ? [hostile(), hostile()] : undefined,
            },
          },
          check: (data) => {
            const created = (data?.createCustomer as { customer: { id: string; name: string } | null } | undefined)
              ?.customer;
            if (created) {
              acceptedCustomers++;
              storedNames.set(created.id, name.trim().replace(/\s+/g, ' '));
            }
          },
        };
      },
      () => ({
        query:
          'query($filter: CustomerFilter, $after: String) { customers(first: 5, filter: $filter, after: $after) { totalCount edges { node { id } } } }',
        variables: {
          filter: {
            search: hostile(),
            tags: random() < 0.3 ? [hostile()] : undefined,
            minTotalPurchases: random() < 0.3 ? pick(AMOUNTS) : undefined,
          },
          after: random() < 0.3 ? hostile() : undefined,
        },
      }),
      // Hostile interactions: unknown customers, bad amounts, operator-shaped externalIds.
      () => ({
        query:
          'mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { interaction { id } isReplay userErrors { code } } }',
        variables: {
          input: {
            customerId: random() < 0.5 ? customerId : hostile(),
            type: pick(['PURCHASE', 'INQUIRY', 'COMPLAINT', 'MARKETING']),
            channel: 'WEB',
            amount: random() < 0.7 ? pick(AMOUNTS) : undefined,
            description: random() < 0.5 ? hostile() : undefined,
            externalId: random() < 0.5 ? hostile() : undefined,
            occurredAt:
              random() < 0.2 ? pick(['2999-01-01T00:00:00Z', 'yesterday', '0', '2026-02-30T00:00:00Z']) : undefined,
          },
        },
        check: (data) => {
          const r = data?.recordInteraction as { interaction: unknown; isReplay: boolean } | undefined;
          if (r?.interaction && !r.isReplay) acceptedInteractions++;
        },
      }),
      () => ({
        query:
          'mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { userErrors { code } } }',
        variables: { id: hostile(), input: { name: hostile() } },
      }),
      () => ({ query: '{ node(id: "' + hostile().replace(/["\\]/g, '') + '") { id } }' }),
    ];

    for (let i = 0; i < TOTAL; i++) {
      const { query, variables, check } = pick(generators)();
      const res = await fetch(t.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let body: { data?: Record<string, unknown> | null; errors?: Array<{ extensions?: { code?: string } }> };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        failures.push(`#${i} status ${res.status}: not JSON: ${text.slice(0, 200)}`);
        continue;
      }
      if (res.status >= 500 || body.errors?.some((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR')) {
        failures.push(
          `#${i} status ${res.status}: ${query.slice(0, 150)} ${JSON.stringify(variables)?.slice(0, 200)} → ${text.slice(0, 300)}`,
        );
      }
      check?.(body.data);
    }

    expect(failures.slice(0, 10)).toEqual([]);
    // Still up, and nothing changed but what was accepted.
    expect((await t.graphql('{ __typename }')).status).toBe(200);
    expect(await db.collection('customers').countDocuments()).toBe(before.customers + acceptedCustomers);
    expect(await db.collection('interactions').countDocuments()).toBe(before.interactions + acceptedInteractions);
    // Operator-shaped names were stored as the text they are.
    for (const [id, name] of [...storedNames].slice(0, 50)) {
      const res = await t.graphql<{ customer: { name: string } }>('query($id: ID!) { customer(id: $id) { name } }', {
        id,
      });
      expect(res.body.data?.customer.name).toBe(name);
    }
  }, 300_000);
});
