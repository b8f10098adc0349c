import type { Resolvers } from '../../generated/graphql.js';
import { forbidden, requireViewer } from '../../graphql/auth.js';
import { connectionResolvers } from '../../graphql/connections.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { userInputError } from '../../graphql/errors.js';
import { eventCursor, subscribeToEvents } from '../../graphql/event-stream.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';
import { formatAmount, toMoney } from '../../shared/money.js';
import type { EventDoc } from '../../events/model.js';
import type { AlertDoc, ConditionDoc, Department, RuleDoc, TaskDoc } from './model.js';
import type { RuleInput } from './rule-input.js';

/** The departments a viewer works for: all for ADMIN, its own for SALES, MARKETING, SUPPORT. */
function departmentsOf(ctx: GraphQLContext): Department[] | null {
  const role = requireViewer(ctx).role;
  return role === 'ADMIN' ? null : [role as Department];
}

/** The departments to show: the asked one if the viewer may see it (else FORBIDDEN), or all of the viewer's. */
function visibleDepartments(ctx: GraphQLContext, asked: Department[] | null | undefined): Department[] | null {
  const mine = departmentsOf(ctx);
  if (!asked?.length) return mine;
  if (mine && asked.some((d) => !mine.includes(d))) throw forbidden('You may see your own department only.');
  return asked;
}

/** Global ids in the rule input (customers are not named; webhook endpoints are) as local ids. */
function localRuleInput(input: RuleInput): RuleInput {
  return {
    ...input,
    actions: input.actions.map((a) =>
      a.webhookEndpointId ? { ...a, webhookEndpointId: localIdOf(a.webhookEndpointId, 'WebhookEndpoint') ?? '' } : a,
    ),
  };
}

function rulePayload(result: { rule: RuleDoc } | { problems: Parameters<typeof toUserErrors>[0] }) {
  return 'problems' in result
    ? { rule: null, userErrors: toUserErrors(result.problems) }
    : { rule: result.rule, userErrors: [] };
}

/** Rules (their messages, endpoints, failed steps) are for ADMIN and MARKETING, as on the root fields. */
const canReadRules = (ctx: GraphQLContext) => ctx.viewer?.role === 'ADMIN' || ctx.viewer?.role === 'MARKETING';

const alertView = (a: AlertDoc, cursor: string | null = null) => ({ ...a, cursor });

export const resolvers = {
  Query: {
    automationRules: (_p, { enabled }, ctx) => ctx.domain.automation.listRules(enabled),
    automationRule: (_p, { id }, ctx) => ctx.domain.automation.findRule(localIdOf(id, 'AutomationRule') ?? ''),
    automationDryRun: async (_p, { ruleId, rule }, ctx) => {
      if (!ruleId === !rule) throw userInputError('give either ruleId or rule', 'ruleId');
      const result = await ctx.domain.automation.dryRun({
        ruleId: ruleId ? (localIdOf(ruleId, 'AutomationRule') ?? '') : null,
        rule: rule ? localRuleInput(rule) : null,
      });
      if ('problems' in result) throw userInputError(result.problems.map((p) => p.message).join('; '), 'rule');
      return result;
    },
    tasks: async (_p, args, ctx) => {
      const page = await ctx.domain.automation.listTasks({
        departments: visibleDepartments(ctx, args.department ? [args.department] : null),
        status: args.status,
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      return page;
    },
    alerts: async (_p, args, ctx) => {
      const page = await ctx.domain.automation.listAlerts({
        departments: visibleDepartments(ctx, args.department ? [args.department] : null),
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      return { ...page, items: page.items.map((i) => ({ ...i, node: alertView(i.node) })) };
    },
  },
  Mutation: {
    createAutomationRule: async (_p, { input }, ctx) =>
      rulePayload(await ctx.domain.automation.createRule(localRuleInput(input))),
    updateAutomationRule: async (_p, { id, input }, ctx) =>
      rulePayload(await ctx.domain.automation.updateRule(localIdOf(id, 'AutomationRule') ?? '', localRuleInput(input))),
    deleteAutomationRule: async (_p, { id }, ctx) => {
      const result = await ctx.domain.automation.deleteRule(localIdOf(id, 'AutomationRule') ?? '');
      return result.problems
        ? { deletedId: null, userErrors: toUserErrors(result.problems) }
        : { deletedId: id, userErrors: [] };
    },
    createTask: async (_p, { input }, ctx) => {
      visibleDepartments(ctx, [input.department]);
      const result = await ctx.domain.automation.createTask(
        {
          ...input,
          customerId: input.customerId != null ? (localIdOf(input.customerId, 'Customer') ?? '') : null,
          assigneeId: input.assigneeId != null ? (localIdOf(input.assigneeId, 'User') ?? '') : null,
        },
        departmentsOf(ctx),
      );
      return result.problems
        ? { task: null, userErrors: toUserErrors(result.problems) }
        : { task: result.task!, userErrors: [] };
    },
    updateTask: async (_p, { id, input }, ctx) => {
      const result = await ctx.domain.automation.updateTask(
        localIdOf(id, 'Task') ?? '',
        {
          ...input,
          ...(input.assigneeId !== undefined
            ? { assigneeId: input.assigneeId === null ? null : (localIdOf(input.assigneeId, 'User') ?? '') }
            : {}),
        },
        departmentsOf(ctx),
      );
      return result.problems
        ? { task: null, userErrors: toUserErrors(result.problems) }
        : { task: result.task!, userErrors: [] };
    },
  },
  Subscription: {
    alertRaised: {
      subscribe: (_p, { departments, after }, ctx) => {
        const visible = visibleDepartments(ctx, departments);
        return subscribeToEvents(ctx, after, (e) => {
          if (e.type !== 'ALERT_RAISED') return false;
          return !visible || e.payload.alert.departments.some((d) => visible.includes(d));
        });
      },
      // Only ALERT_RAISED events get past the filter above.
      resolve: (e: EventDoc<'ALERT_RAISED'>, _a: unknown, ctx: GraphQLContext) => {
        ctx.renewLoaders();
        return alertView(e.payload.alert, eventCursor(e.seq));
      },
    },
  },
  AutomationRule: {
    id: (r) => toGlobalId('AutomationRule', String(r._id)),
    journey: (r) => r.journey ?? null,
    failedSteps: (r, { first }, ctx) => ctx.domain.automation.failedSteps(r._id, first ?? 20),
  },
  AutomationFailedStep: {
    id: (j) => j._id,
    customer: (j, _a, ctx) => ctx.loaders.customerById.load(String(j.customerId)),
    lastError: (j) => j.lastError ?? null,
    causeType: (j) => j.cause.type,
    causedAt: (j) => j.cause.at,
  },
  AutomationTrigger: {
    minAmount: (t, _a, ctx) => (t.minAmountMinor == null ? null : toMoney(t.minAmountMinor, ctx.domain.currency)),
    maxAmount: (t, _a, ctx) => (t.maxAmountMinor == null ? null : toMoney(t.maxAmountMinor, ctx.domain.currency)),
  },
  Condition: {
    value: (c: ConditionDoc, _a, ctx) =>
      c.value == null
        ? null
        : c.field === 'TOTAL_PURCHASES'
          ? formatAmount(Number(c.value), ctx.domain.currency)
          : String(c.value),
  },
  AutomationAction: {
    webhookEndpointId: (a) => (a.webhookEndpointId ? toGlobalId('WebhookEndpoint', a.webhookEndpointId) : null),
  },
  Task: {
    id: (t: TaskDoc) => toGlobalId('Task', t._id),
    customer: (t, _a, ctx) => (t.customerId ? ctx.loaders.customerById.load(String(t.customerId)) : null),
    assignee: (t, _a, ctx) => (t.assigneeId ? ctx.loaders.taskAssigneeById.load(String(t.assigneeId)) : null),
    rule: (t, _a, ctx) =>
      t.ruleId && canReadRules(ctx) ? ctx.loaders.automationRuleById.load(String(t.ruleId)) : null,
    dueAt: (t) => t.dueAt ?? null,
  },
  Alert: {
    id: (a) => toGlobalId('Alert', a._id),
    customer: (a, _a, ctx) => (a.customerId ? ctx.loaders.customerById.load(String(a.customerId)) : null),
    rule: (a, _a, ctx) =>
      a.ruleId && canReadRules(ctx) ? ctx.loaders.automationRuleById.load(String(a.ruleId)) : null,
  },
  TaskConnection: connectionResolvers<TaskDoc>(),
  AlertConnection: connectionResolvers<AlertDoc>(),
} satisfies Resolvers;
