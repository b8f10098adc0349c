import { Job } from './model.js';

/** Automation steps waiting to run: the step worker's queue, for status pages and gauges. */
export async function pendingAutomationStepsCount(): Promise<number> {
  return Job.countDocuments({ status: 'PENDING' });
}
