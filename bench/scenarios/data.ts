import { Types } from 'mongoose';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import { Interaction, type InteractionDoc } from '../../src/modules/interactions/model.js';

const DAY_MS = 86_400_000;

/** `count` customers with `perCustomer` interactions each, bulk-inserted. Returns their ids. */
export async function insertCustomersWithInteractions(
  count: number,
  perCustomer: number,
  prefix: string,
  segment: CustomerDoc['segment'] = 'NEW',
): Promise<Types.ObjectId[]> {
  const now = Date.now();
  const ids: Types.ObjectId[] = [];
  for (let start = 0; start < count; start += 2_000) {
    const customers: CustomerDoc[] = [];
    const interactions: InteractionDoc[] = [];
    for (let i = start; i < Math.min(count, start + 2_000); i++) {
      const _id = new Types.ObjectId();
      ids.push(_id);
      const joinedAt = new Date(now - (i % 300) * DAY_MS);
      const last = new Date(now - (i % 30) * DAY_MS);
      customers.push({
        _id,
        code: `${prefix}${String(i).padStart(6, '0')}`,
        name: `Customer ${i}`,
        email: `${prefix.toLowerCase()}${i}@example.com`,
        tags: [],
        searchKeys: [`customer ${i}`],
        nameLower: `customer ${i}`,
        segment,
        segmentChangedAt: joinedAt,
        totalPurchasesMinor: perCustomer * 1_000,
        purchaseCount: perCustomer,
        interactionCount: perCustomer,
        lastInteractionAt: last,
        lastInteractionSortAt: last,
        activityAt: last,
        joinedAt,
        rev: 0,
        createdAt: joinedAt,
        updatedAt: joinedAt,
      });
      for (let k = 0; k < perCustomer; k++) {
        const at = new Date(last.getTime() - k * DAY_MS);
        interactions.push({
          _id: `i:${new Types.ObjectId().toHexString()}`,
          customerId: _id,
          type: 'PURCHASE',
          channel: 'WEB',
          occurredAt: at,
          recordedAt: at,
          amountMinor: 1_000,
          currency: 'KRW',
        });
      }
    }
    await Customer.collection.insertMany(customers as never[]);
    if (interactions.length) await Interaction.collection.insertMany(interactions as never[]);
  }
  return ids;
}
