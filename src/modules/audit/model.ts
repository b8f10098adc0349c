import mongoose, { Schema, Types } from 'mongoose';
import type { Role } from '../users/index.js';

export type AuditChange = { targetId: string; field: string; before: string | null; after: string | null };

export type AuditEntryDoc = {
  _id: Types.ObjectId;
  at: Date;
  actorId: string | null;
  actorRole: Role | null;
  operation: string | null;
  fields: string[];
  targetIds: string[];
  input: string;
  changes: AuditChange[];
  outcome: 'OK' | 'USER_ERRORS' | 'ERROR';
  codes: string[];
  requestId: string;
  transport: 'HTTP' | 'WEBSOCKET';
};

const auditSchema = new Schema<AuditEntryDoc>(
  {
    at: { type: Date, required: true },
    actorId: { type: String },
    actorRole: { type: String },
    operation: { type: String },
    fields: { type: [String], required: true },
    targetIds: { type: [String], required: true },
    input: { type: String, required: true },
    changes: { type: Schema.Types.Mixed, default: [] },
    outcome: { type: String, required: true },
    codes: { type: [String], required: true },
    requestId: { type: String, required: true },
    transport: { type: String, required: true },
  },
  { versionKey: false, collection: 'audit_log' },
);
auditSchema.index({ at: -1, _id: -1 });
auditSchema.index({ actorId: 1, at: -1 });
auditSchema.index({ targetIds: 1, at: -1 });

export const AuditEntry = mongoose.model<AuditEntryDoc>('AuditEntry', auditSchema);
