/**
 * Every query the API sends to the database for the reads users make most — a customer with its
 * timeline, pages of customers in each order, segment, tag and prefix-search filters, a timeline
 * page, insights — is captured from the driver as it goes out, and each one is explained by the
 * embedded engine: SQLite must answer it from an index (`SEARCH … USING INDEX`, or a read of an
 * index in order for a sorted page), never by a scan of the collection. A new query shape on these
 * paths that no index serves fails here.
 */
import { beforeAll, describe, expect } from '@jest/globals';
import mongoose from 'mongoose';
import { createCustomer, recordPurchase } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

type Captured = { commandName: string; command: Record<string, unknown> };

const READS: Array<[string, string]> = [
  [
    'a customer with its last 5 interactions',
    `query($id: ID!) { customer(id: $id) { name interactions(first: 5) { edges { node { id } } } } }`,
  ],
  [
    'a page of customers with their timelines',
    `{ customers(first: 20) { edges { node { name interactions(first: 5) { edges { node { id } } } } } } }`,
  ],
  ['the next page', `query($after: String) { customers(first: 20, after: $after) { edges { node { name } } } }`],
  [
    'VIP customers by total purchases',
    `{ customers(first: 20, filter: {segments: [VIP]}, orderBy: {field: TOTAL_PURCHASES, direction: DESC}) { edges { node { name } } } }`,
  ],
  [
    'customers by name, then the next page',
    `query($afterName: String) { customers(first: 5, orderBy: {field: NAME, direction: ASC}, after: $afterName) { edges { node { name } } } }`,
  ],
  [
    'customers by last interaction',
    `{ customers(first: 20, orderBy: {field: LAST_INTERACTION_AT, direction: DESC}) { edges { node { name } } } }`,
  ],
  ['a prefix search', `{ customers(first: 20, filter: {search: "plan"}) { edges { node { name } } } }`],
  ['a tag filter', `{ customers(first: 20, filter: {tags: ["gold"]}) { edges { node { name } } } }`],
  [
    "one customer's interactions page",
    `query($id: ID!) { interactions(first: 20, filter: {customerId: $id}) { edges { node { id customer { name } } } } }`,
  ],
  ['all interactions, newest first', `{ interactions(first: 20) { edges { node { id } } } }`],
  [
    'customer insights',
    `query($id: ID!) { customerInsights(id: $id) { churnRisk lifetimeValue { amount } nextBestActions { action } } }`,
  ],
];

describe('query plans of the hot reads', () => {
  const t = useTestServer();
  let customerId: string;
  let after: string;
  let afterName: string;

  beforeAll(async () => {
    for (let i = 0; i < 30; i++) {
      const c = await createCustomer(t, {
        name: `Plan Customer ${i}`,
        email: `plan${i}@example.com`,
        tags: i % 3 ? ['gold'] : [],
      });
      customerId = c.id;
      if (i % 2) await recordPurchase(t, { customerId: c.id, amount: String(1000 * (i + 1)) });
    }
    const page = await t.graphql<{ customers: { pageInfo: { endCursor: string } } }>(
      '{ customers(first: 20) { pageInfo { endCursor } } }',
    );
    after = page.body.data!.customers.pageInfo.endCursor;
    const byName = await t.graphql<{ customers: { pageInfo: { endCursor: string } } }>(
      '{ customers(first: 5, orderBy: {field: NAME, direction: ASC}) { pageInfo { endCursor } } }',
    );
    afterName = byName.body.data!.customers.pageInfo.endCursor;
  });

  it.each(READS)('%s is answered from indexes', async (_name, query) => {
    const client = mongoose.connection.getClient();
    const captured: Captured[] = [];
    const listener = (e: Captured) => {
      const collection = e.command[e.commandName];
      if (
        (collection === 'customers' || collection === 'interactions') &&
        ['find', 'count', 'aggregate'].includes(e.commandName)
      )
        captured.push({ commandName: e.commandName, command: e.command });
    };
    client.on('commandStarted', listener);
    try {
      const res = await t.graphql(query, { id: customerId, after, afterName });
      expect(res.body.errors).toBeUndefined();
    } finally {
      client.off('commandStarted', listener);
    }
    expect(captured.length).toBeGreaterThan(0);
    const db = mongoose.connection.db!;
    for (const { commandName, command } of captured) {
      const explained: Record<string, unknown> = { [commandName]: command[commandName] };
      for (const k of ['filter', 'sort', 'query', 'pipeline']) if (k in command) explained[k] = command[k];
      const plan = await db.command({ explain: explained });
      const lines = (plan.queryPlanner as { Plan: string[] }).Plan.join('\n');
      const shape = JSON.stringify(explained);
      // A collection scan is a plan line with SCAN and no index; a read of an index in order
      // ("SCAN … USING INDEX") serves a sorted page that stops when it is full.
      expect({ shape, lines }).toEqual({ shape, lines: expect.stringMatching(/USING (COVERING )?INDEX|PRIMARY KEY/) });
      for (const line of lines.split('\n'))
        expect({ shape, line }).not.toEqual({ shape, line: expect.stringMatching(/SCAN \S+$/) });
    }
  });
});
