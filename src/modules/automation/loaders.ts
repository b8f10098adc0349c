import DataLoader from 'dataloader';
import type { UserDoc } from '../users/model.js';
import type { RuleDoc } from './model.js';
import type { AutomationService } from './service.js';

/** Per request: the rules and assignees named by the tasks and alerts of one resolver pass, one query each. */
export function createAutomationLoaders(automation: Pick<AutomationService, 'findRules' | 'findAssignees'>) {
  return {
    automationRuleById: new DataLoader<string, RuleDoc | null>((ids) => automation.findRules(ids), {
      maxBatchSize: 100,
    }),
    taskAssigneeById: new DataLoader<string, UserDoc | null>((ids) => automation.findAssignees(ids), {
      maxBatchSize: 100,
    }),
  };
}
