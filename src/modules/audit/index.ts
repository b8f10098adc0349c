import type { DomainModule } from '../../app/module.js';
import { AuditEntry } from './model.js';
import { resolvers } from './resolvers.js';

export { createAuditService, describeArguments, type AuditService } from './service.js';
export type { AuditChange, AuditEntryDoc } from './model.js';

/** The audit domain as the composition root sees it. */
export const auditModule = {
  name: 'audit',
  indexedModels: [AuditEntry],
  resolvers,
} satisfies DomainModule;
export { diffFields } from './service.js';
export { pruneAuditEntries } from './retention.js';
