import { createPublishedAlerts, findAlert, listAlerts } from './alerts.js';
import type { Automation, AutomationDeps } from './deps.js';
import { createComplaintBook } from './complaints.js';
import { createRunBook, failedSteps, scanInactivity } from './jobs.js';
import type { RuleInput } from './rule-input.js';
import {
  createRuleCache,
  deleteRule,
  dryRunRule,
  findRule,
  findRules,
  installDefaultJourneys,
  listRules,
  saveRule,
} from './rules.js';
import { runDueJobs } from './steps.js';
import { createTask, findAssignees, findTask, listTasks, updateTask } from './tasks.js';
import { handleEvent } from './triggers.js';

export type AutomationService = ReturnType<typeof createAutomationService>;

/**
 * Automation: rules stored as data and evaluated from the event log.
 *
 * - The rule consumer (a LogConsumer: one process at a time, from its stored position) turns
 *   each event into runs of the rules it matches (triggers.ts). A run's steps become jobs whose
 *   `_id` is `<rule>:<event seq>:<step>` (jobs.ts): processing an event again (after a crash or
 *   a takeover) inserts nothing new, so each (rule, event) runs at most once, across processes.
 * - The step worker (every process; a lease per job) runs due steps (steps.ts). Every effect is
 *   keyed by the job's id (the task's and alert's `_id`, the message's externalId, the webhook
 *   delivery's id), so a step retried after a crash has its effect once. A failing step is
 *   retried with backoff and, after 5 tries, kept as FAILED and counted — never dropped silently.
 */
export function createAutomationService(deps: AutomationDeps) {
  const automation: Automation = {
    ...deps,
    rules: createRuleCache(),
    publishedAlerts: createPublishedAlerts(),
    complaints: createComplaintBook(deps.events),
    runs: createRunBook(),
  };
  return {
    listRules,
    findRule,
    findRules,
    createRule: (input: RuleInput) => saveRule(automation, null, input),
    updateRule: (id: string, input: RuleInput) => saveRule(automation, id, input),
    deleteRule: deleteRule.bind(null, automation),
    dryRun: dryRunRule.bind(null, automation),
    installDefaultJourneys: installDefaultJourneys.bind(null, automation),
    handleEvent: handleEvent.bind(null, automation),
    /** Writes what the rule consumer's handler keeps in memory (the complaints, then the runs): its `flush`. */
    flushRuleConsumer: async () => {
      await automation.complaints.flush();
      await automation.runs.flush();
    },
    scanInactivity: scanInactivity.bind(null, automation),
    runDueJobs: runDueJobs.bind(null, automation),
    failedSteps,
    listTasks,
    findTask,
    findAssignees,
    createTask: createTask.bind(null, automation),
    updateTask: updateTask.bind(null, automation),
    listAlerts,
    findAlert,
  };
}
