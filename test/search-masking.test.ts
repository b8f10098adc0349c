/**
 * A role that sees e-mail and phone masked cannot recover them through prefix search: its
 * searches match names and codes only. Customers stored before contact keys were marked are
 * rewritten once at start.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { localIdOf } from '../src/shared/ids.js';
import { createCustomer } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

describe('search and masked contact details', () => {
  const t = useTestServer();
  let analyst: string;
  let customerId: string;

  beforeAll(async () => {
    analyst = await t.tokenFor('ANALYST');
    customerId = (await createCustomer(t, { name: 'Masked Mina', email: 'kmina@example.com', phone: '010-4444-5555' }))
      .id;
  });

  const search = async (token: string, text: string) => {
    const res = await t.graphql<{ customers: { edges: Array<{ node: { id: string } }> } }>(
      'query($q: String!) { customers(first: 10, filter: { search: $q }) { edges { node { id } } } }',
      { q: text },
      { authorization: `Bearer ${token}` },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.customers.edges.map((e) => e.node.id);
  };

  it('finds by name for everyone, by e-mail and phone only for roles that see them', async () => {
    expect(await search(analyst, 'masked mi')).toEqual([customerId]);
    expect(await search(t.adminToken, 'kmina@exa')).toEqual([customerId]);
    expect(await search(t.adminToken, '010-4444')).toEqual([customerId]);
    // The probes that recovered a masked e-mail or phone letter by letter match nothing.
    for (const probe of ['k', 'km', 'kmina@', 'kmina@example.com', '0104444', '8210444', '010-4444-5555'])
      expect(await search(analyst, probe)).toEqual([]);
  });

  it('ignores control characters typed into a search', async () => {
    expect(await search(analyst, '\u0002kmina')).toEqual([]);
    expect(await search(t.adminToken, '\u0002kmina')).toEqual([customerId]);
  });

  it('rewrites search keys stored before contact keys were marked, once, at start', async () => {
    const db = mongoose.connection.db!;
    // A customer as an earlier version stored it: the e-mail as a plain key.
    await db
      .collection('customers')
      .updateOne(
        { _id: new mongoose.Types.ObjectId(localIdOf(customerId, 'Customer')!) },
        { $set: { searchKeys: ['masked mina', 'masked', 'mina', 'kmina@example.com'] } },
      );
    expect(await search(analyst, 'kmina')).toEqual([customerId]);
    await db.collection('migrations').deleteMany({});
    await t.restart();
    analyst = await t.tokenFor('ANALYST').catch(async () => analyst);
    expect(await search(analyst, 'kmina')).toEqual([]);
    expect(await search(t.adminToken, 'kmina')).toEqual([customerId]);
  });
});
