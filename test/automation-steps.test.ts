/**
 * The step worker's passes: steps are claimed and read together, and run one after another.
 * A step sees what an earlier step of the same pass did to its customer, and two passes at once
 * never run a step twice nor leave one out.
 */
import { describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { Job, Rule, Task, type JobDoc } from '../src/modules/automation/model.js';
import { fromGlobalId } from '../src/shared/ids.js';
import { createCustomer } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

describe('automation step passes', () => {
  // The steps run when the test says: no worker of the server's own claims them meanwhile.
  const t = useTestServer({ env: { AUTOMATION_DEFAULT_JOURNEYS: 'false', AUTOMATION_POLL_MS: '600000' } });

  async function createRule(input: Record<string, unknown>): Promise<mongoose.Types.ObjectId> {
    const res = await t.graphql<{ createAutomationRule: { rule: { id: string } | null; userErrors: unknown[] } }>(
      'mutation($input: AutomationRuleInput!) { createAutomationRule(input: $input) { rule { id } userErrors { message } } }',
      { input },
    );
    expect(res.body.data?.createAutomationRule.userErrors).toEqual([]);
    return new mongoose.Types.ObjectId(fromGlobalId(res.body.data!.createAutomationRule.rule!.id)!.localId);
  }

  it("runs a step on its customer as the pass's earlier steps left it", async () => {
    const ruleId = await createRule({
      name: 'Tag, then call the tagged',
      trigger: { type: 'CUSTOMER_CREATED' },
      actions: [
        { type: 'ADD_TAG', tag: 'welcomed' },
        {
          type: 'CREATE_TASK',
          department: 'SUPPORT',
          title: 'Call the welcomed customer',
          onlyIf: [{ field: 'TAGS', operator: 'CONTAINS', value: 'welcomed' }],
        },
      ],
    });
    const customer = await createCustomer(t, { name: 'Tagged First' });
    const customerId = new mongoose.Types.ObjectId(fromGlobalId(customer.id)!.localId);
    // Both steps are due at once and claimed by one pass, whose customer was read before either ran.
    await t.settle();
    expect(await Task.countDocuments({ ruleId, customerId })).toBe(1);
    const rule = await Rule.findById(ruleId).lean();
    expect(rule!.stats).toMatchObject({ matched: 1, executed: 2, skipped: 0, failed: 0 });
  });

  it('runs every step once when two passes claim at the same time', async () => {
    // A quiet spell of a year: no customer below starts a run of it; the test plans them.
    const ruleId = await createRule({
      name: 'Call everyone',
      trigger: { type: 'INACTIVE_FOR', inactiveDays: 365 },
      actions: [{ type: 'CREATE_TASK', department: 'SALES', title: 'Call' }],
    });
    const rule = (await Rule.findById(ruleId).lean())!;
    const customers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => createCustomer(t, { name: `Concurrent ${i}` })),
    );
    // The other rule's runs for these customers are done first: the passes below find only ours.
    await t.settle();
    // 120 due steps (ten runs per customer), more than two passes of 50 take at once.
    const now = new Date();
    const jobs: JobDoc[] = customers.flatMap((c, i) =>
      Array.from({ length: 10 }, (_, run) => ({
        _id: `${String(ruleId)}:test${i}-${run}:0`,
        ruleId,
        step: 0,
        customerId: new mongoose.Types.ObjectId(fromGlobalId(c.id)!.localId),
        runAt: now,
        status: 'PENDING' as const,
        attempts: 0,
        leaseUntil: new Date(0),
        ruleVersion: rule.updatedAt.getTime(),
        cause: { type: 'TEST', seq: null, at: now },
      })),
    );
    await Job.collection.insertMany(jobs as never[]);
    const automation = t.server.domain.automation;
    const [first, second] = await Promise.all([automation.runDueJobs(), automation.runDueJobs()]);
    expect(first + second).toBe(120);
    expect(await Task.countDocuments({ ruleId })).toBe(120);
    expect(await Job.countDocuments({ ruleId })).toBe(0);
    expect((await Rule.findById(ruleId).lean())!.stats).toMatchObject({ executed: 120, failed: 0 });
  });
});
