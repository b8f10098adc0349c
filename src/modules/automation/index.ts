import type { DomainModule } from '../../app/module.js';
import { Rule, Job, Task, Alert, StepDone } from './model.js';
import { resolvers } from './resolvers.js';

export { createAutomationService } from './service.js';

/** The automation domain as the composition root sees it. */
export const automationModule = {
  name: 'automation',
  indexedModels: [Rule, Job, Task, Alert, StepDone],
  resolvers,
} satisfies DomainModule;
export { pendingAutomationStepsCount } from './queue.js';
export { createAutomationLoaders } from './loaders.js';
export { complaintsInWeek, complaintsInWeekOf } from './complaints.js';
export type { AutomationService } from './service.js';
export { pruneFinishedAutomationWork, type AutomationPruneOutcome } from './retention.js';
