import { analyticsModule } from '../modules/analytics/index.js';
import { auditModule } from '../modules/audit/index.js';
import { automationModule } from '../modules/automation/index.js';
import { campaignsModule } from '../modules/campaigns/index.js';
import { customersModule } from '../modules/customers/index.js';
import { insightsModule } from '../modules/insights/index.js';
import { interactionsModule } from '../modules/interactions/index.js';
import { segmentsModule } from '../modules/segments/index.js';
import { systemModule } from '../modules/system/index.js';
import { usersModule } from '../modules/users/index.js';
import { webhooksModule } from '../modules/webhooks/index.js';
import type { DomainModule } from './module.js';

/** Every domain of the API, in one list: schema assembly and index creation iterate it. */
export const MODULES: readonly DomainModule[] = [
  systemModule,
  customersModule,
  interactionsModule,
  segmentsModule,
  insightsModule,
  usersModule,
  auditModule,
  campaignsModule,
  automationModule,
  webhooksModule,
  analyticsModule,
];
