import { AuditEntry } from '../modules/audit/model.js';
import { Alert, Job, Rule, Task } from '../modules/automation/model.js';
import { AudienceChunk, Campaign, Conversion, Delivery } from '../modules/campaigns/model.js';
import { Endpoint, WebhookDelivery } from '../modules/webhooks/model.js';
import { Customer } from '../modules/customers/model.js';
import { Interaction } from '../modules/interactions/model.js';
import { SegmentChange } from '../modules/segments/model.js';
import { User } from '../modules/users/model.js';

/**
 * Creates every model's indexes (idempotent). The app's queries are shaped for these on
 * MongoDB; the embedded engine keeps the unique ones and scans for the rest (SPEC §9).
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
