import { expect } from '@jest/globals';
import type { TestServer } from './server.js';

/** Small, typed wrappers over the public API, so tests read like a user's session. */

export type CustomerView = {
  id: string;
  code: string;
  name: string;
  email: string | null;
  phone: string | null;
  segment: string;
  tags: string[];
  totalPurchases: { amount: string; currency: string };
  purchaseCount: number;
  averagePurchase: { amount: string; currency: string } | null;
  lastInteractionAt: string | null;
  joinedAt: string;
};

export const CUSTOMER_FIELDS = `id code name email phone segment tags totalPurchases { amount currency } purchaseCount averagePurchase { amount currency } lastInteractionAt joinedAt`;

type UserError = { field: string[] | null; message: string; code: string };

export async function createCustomer(t: TestServer, input: Record<string, unknown>): Promise<CustomerView> {
  const res = await t.graphql<{ createCustomer: { customer: CustomerView | null; userErrors: UserError[] } }>(
    `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { ${CUSTOMER_FIELDS} } userErrors { field message code } } }`,
    { input },
  );
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data?.createCustomer.userErrors).toEqual([]);
  return res.body.data!.createCustomer.customer!;
}

export type RecordPayload = {
  interaction: {
    id: string;
    type: string;
    occurredAt: string;
    amount: { amount: string } | null;
    externalId: string | null;
  } | null;
  customer: CustomerView | null;
  isReplay: boolean;
  userErrors: UserError[];
};

const PAYLOAD_FIELDS = `interaction { id type occurredAt amount { amount } externalId } customer { ${CUSTOMER_FIELDS} } isReplay userErrors { field message code }`;

export async function recordInteraction(t: TestServer, input: Record<string, unknown>): Promise<RecordPayload> {
  const res = await t.graphql<{ recordInteraction: RecordPayload }>(
    `mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { ${PAYLOAD_FIELDS} } }`,
    { input },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.recordInteraction;
}

export async function recordPurchase(t: TestServer, input: Record<string, unknown>): Promise<RecordPayload> {
  const res = await t.graphql<{ recordPurchase: RecordPayload }>(
    `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { ${PAYLOAD_FIELDS} } }`,
    { input: { channel: 'WEB', ...input } },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.recordPurchase;
}

export async function getCustomer(
  t: TestServer,
  id: string,
  extra = '',
): Promise<CustomerView & Record<string, unknown>> {
  const res = await t.graphql<{ customer: CustomerView & Record<string, unknown> }>(
    `query($id: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} ${extra} } }`,
    { id },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.customer;
}

export async function sweep(t: TestServer): Promise<{ evaluatedCount: number; changedCount: number }> {
  const res = await t.graphql<{ sweepSegments: { evaluatedCount: number; changedCount: number } }>(
    'mutation { sweepSegments { evaluatedCount changedCount } }',
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.sweepSegments;
}

export const DAY_MS = 86_400_000;

export function daysBefore(now: Date, days: number): string {
  return new Date(now.getTime() - days * DAY_MS).toISOString();
}
