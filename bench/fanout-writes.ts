/**
 * The writes of the fan-out scenario, all through the API (so each goes the whole way: request,
 * service, event log, tailer): the measured events, and a steady load of other mutations on
 * other customers that subscribers' filters must pass over meanwhile.
 */
import type { BenchContext } from './context.js';

/** Background mutations per second while events are measured. */
export const LOAD_PER_SECOND = 40;
/** Load mutations allowed in flight at once: an overloaded server is not buried deeper. */
const LOAD_IN_FLIGHT = 8;
const LOAD_CUSTOMERS = 20;
/** Keeps e-mail addresses unique when a database outlives one bench run. */
const RUN = Date.now().toString(36);

/**
 * One measured event: a created customer is a segment change into NEW, which every subscription
 * of the scenario selects. E-mail and phone are set so that ANALYST subscribers see them masked.
 */
export async function writeMeasuredEvent(ctx: BenchContext, name: string, serial: number): Promise<void> {
  const created = await ctx.graphql<{ createCustomer: { userErrors: unknown[] } }>(
    'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { userErrors { code } } }',
    {
      input: {
        name,
        email: `${name.toLowerCase()}.${serial}.${RUN}@fanout.test`,
        phone: `010${String(serial % 1e8).padStart(8, '0')}`,
        tags: ['fanout'],
      },
    },
  );
  if (created.createCustomer.userErrors.length)
    throw new Error(`fan-out: ${name} not created: ${JSON.stringify(created.createCustomer.userErrors)}`);
}

/** The customers the load writes to, created before any subscriber listens. */
export async function createLoadCustomers(ctx: BenchContext): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < LOAD_CUSTOMERS; i++) {
    const created = await ctx.graphql<{ createCustomer: { customer: { id: string } } }>(
      'mutation($name: String!) { createCustomer(input: { name: $name }) { customer { id } } }',
      { name: `Fan-out load ${i}` },
    );
    ids.push(created.createCustomer.customer.id);
  }
  return ids;
}

/**
 * Inquiries and tag changes at LOAD_PER_SECOND, round-robin over the load customers: events
 * in the log that no subscription here selects (an inquiry moves no one out of NEW).
 */
export function startWriteLoad(ctx: BenchContext, customerIds: string[]) {
  let sent = 0;
  let failed = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const writeOne = (n: number): Promise<unknown> => {
    const customerId = customerIds[n % customerIds.length]!;
    return n % 2 === 0
      ? ctx.graphql(
          'mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { userErrors { code } } }',
          { input: { customerId, type: 'INQUIRY', channel: 'WEB', description: `load ${n}` } },
        )
      : ctx.graphql(
          'mutation($id: ID!, $tags: [String!]) { updateCustomer(id: $id, input: { tags: $tags }) { userErrors { code } } }',
          {
            id: customerId,
            tags: [`load-${n % 7}`],
          },
        );
  };
  const timer = setInterval(() => {
    if (inFlight >= LOAD_IN_FLIGHT) return;
    inFlight++;
    const write: Promise<void> = writeOne(sent++).then(
      () => undefined,
      () => void failed++,
    );
    pending.add(write);
    void write.finally(() => {
      inFlight--;
      pending.delete(write);
    });
  }, 1000 / LOAD_PER_SECOND);
  const startedAt = performance.now();
  return {
    /** Stops the load and waits for its last writes; how many were sent, per second. */
    async stop(): Promise<{ writes: number; perSecond: number; failed: number }> {
      clearInterval(timer);
      const seconds = (performance.now() - startedAt) / 1000;
      await Promise.all(pending);
      return { writes: sent, perSecond: +(sent / seconds).toFixed(1), failed };
    },
  };
}
