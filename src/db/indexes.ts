import { AuditEntry } from '../modules/audit/model.js';
import { Alert, Job, Rule, Task } from '../modules/automation/model.js';
import { AudienceChunk, Campaign, Conversion, Delivery } from '../modules/campaigns/model.js';
import { Endpoint, WebhookDelivery } from '../modules/webhooks/model.js';
import { Customer } from '../modules/customers/model.js';
import { Interaction } from '../modules/interactions/model.js';
import { SegmentChange } from '../modules/segments/model.js';
import { User } from '../modules/users/model.js';

/**
 * Creates every model's indexes (idempotent). Every query on a hot path is shaped for one of
 * these, on MongoDB and on the embedded engine alike, which answers filters and sorts from them
 * (docs/EMBEDDED-ENGINE.md); test/query-plans.test.ts checks the hot reads' plans.
 */
export async function ensureIndexes(): Promise<void> {
  const models = [
    Customer,
    Interaction,
    SegmentChange,
    User,
    AuditEntry,
    Campaign,
    AudienceChunk,
    Delivery,
    Conversion,
    Rule,
    Job,
    Task,
    Alert,
    Endpoint,
    WebhookDelivery,
  ];
  for (const model of models) await model.createIndexes();
}
