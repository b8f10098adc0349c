import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import { Interaction, type InteractionDoc } from '../../src/modules/interactions/model.js';
import { toGlobalId } from '../../src/shared/ids.js';
import { formatAmount } from '../../src/shared/money.js';
import { insertCustomersWithInteractions } from './data.js';
import type { BenchContext, Scenario } from '../context.js';
import { inFlightCounter, timedLoad, type LoadOptions } from '../lib/load.js';

export const READ_QUERY = `{ customers(first: 20) { edges { node { id code name segment totalPurchases { amount currency } interactions(first: 5) { edges { node { id type occurredAt } } } } } } }`;

/**
 * The floor for the read scenario: a bare node:http handler doing the same two reads with the
 * raw driver (a page of customers, then their interactions in one $in query) and answering the
 * same JSON. Whatever any GraphQL layer adds is measured against this.
 */
export async function startRawReadServer(currency: string) {
  const counter = inFlightCounter();
  const server = http.createServer((req, res) => {
    counter.track(res);
    req.resume();
    req.on('end', async () => {
      try {
        const customers = await Customer.collection
          .find<CustomerDoc>({})
          .sort({ joinedAt: -1, _id: -1 })
          .limit(20)
          .toArray();
        const interactions = await Interaction.collection
          .find<InteractionDoc>({ customerId: { $in: customers.map((c) => c._id) } })
          .sort({ occurredAt: -1, _id: -1 })
          .toArray();
        const byCustomer = new Map<string, InteractionDoc[]>();
        for (const i of interactions) {
          const list = byCustomer.get(String(i.customerId)) ?? [];
          if (list.length < 5) list.push(i);
          byCustomer.set(String(i.customerId), list);
        }
        const edges = customers.map((c) => ({
          node: {
            id: toGlobalId('Customer', String(c._id)),
            code: c.code,
            name: c.name,
            segment: c.segment,
            totalPurchases: { amount: formatAmount(c.totalPurchasesMinor, currency), currency },
            interactions: {
              edges: (byCustomer.get(String(c._id)) ?? []).map((i) => ({
                node: { id: toGlobalId('Interaction', i._id), type: i.type, occurredAt: i.occurredAt.toISOString() },
              })),
            },
          },
        }));
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ data: { customers: { edges } } }));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    // The driver's queries a closed connection left behind still run: waited for, or they
    // would load the engine while the other side is timed.
    drained: counter.drained,
    close: () => server.close(),
  };
}

export async function seedReadData(customers: number): Promise<void> {
  await mongoose.connection.db!.collection('customers').deleteMany({});
  await insertCustomersWithInteractions(customers, 5, 'R');
}

/**
 * read: a page of 20 customers with 5 interactions each, through GraphQL as the bench admin,
 * against the raw driver doing the same two reads behind a bare node:http handler.
 */
export async function readScenario(ctx: BenchContext, load: LoadOptions): Promise<Record<string, Scenario>> {
  const customers = ctx.size({ smoke: 300, quick: 1_000, full: 2_000 });
  await seedReadData(customers);
  const raw = await startRawReadServer(ctx.config.currency);
  try {
    const body = JSON.stringify({ query: READ_QUERY });
    const baseline = await timedLoad(raw.url, body, load, raw.drained);
    const ours = await timedLoad(
      ctx.apiUrl,
      body,
      { ...load, headers: { authorization: `Bearer ${ctx.token}` } },
      ctx.drained,
    );
    return {
      read: {
        ours: Math.round(ours.rate),
        baseline: Math.round(baseline.rate),
        unit: 'req/s',
        ratio: +(ours.rate / baseline.rate).toFixed(3),
        p99Ms: ours.p99Ms,
        baselineP99Ms: baseline.p99Ms,
        note: `${customers.toLocaleString('en')} customers with 5 interactions each`,
      },
    };
  } finally {
    raw.close();
  }
}
