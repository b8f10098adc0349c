import type { AlertDoc, TaskDoc } from './model.js';

/** The events the automation domain publishes, by type: what its rules created, as stored. */
export type AutomationEvents = { TASK_CREATED: { task: TaskDoc }; ALERT_RAISED: { alert: AlertDoc } };
