import mongoose, { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import { AuditEntry, type AuditChange, type AuditEntryDoc } from './model.js';

const SECRET_KEYS = /password|secret|token/i;
const TARGET_KEYS = new Set(['id', 'customerId', 'primaryId', 'duplicateId', 'campaignId']);

/** The arguments as JSON with secrets replaced, and the ids they name. */
export function describeArguments(args: unknown): { input: string; targetIds: string[] } {
  const targetIds = new Set<string>();
  const input = JSON.stringify(args, (key, value: unknown) => {
    if (SECRET_KEYS.test(key)) return '[redacted]';
    if (TARGET_KEYS.has(key) && typeof value === 'string') targetIds.add(value);
    return value;
  });
  return { input: input ?? '{}', targetIds: [...targetIds] };
}

/** The fields that differ between two versions of a record, as JSON before/after pairs. */
export function diffFields(
  targetId: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  fields: readonly string[],
): AuditChange[] {
  const changes: AuditChange[] = [];
  for (const field of fields) {
    const b = before[field] === undefined ? null : JSON.stringify(before[field]);
    const a = after[field] === undefined ? null : JSON.stringify(after[field]);
    if (a !== b) changes.push({ targetId, field, before: b, after: a });
  }
  return changes;
}

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: { clock: Clock }) {
  async function record(entry: Omit<AuditEntryDoc, '_id' | 'at'>): Promise<void> {
    await AuditEntry.collection.insertOne({ _id: new Types.ObjectId(), at: deps.clock.now(), ...entry } as never);
  }

  async function list(args: {
    filter?: {
      actorId?: string | null;
      targetId?: string | null;
      field?: string | null;
      from?: Date | null;
      to?: Date | null;
    } | null;
    first: number;
    after?: string | null;
  }): Promise<Page<AuditEntryDoc> | null> {
    const f = args.filter ?? {};
    const and: Record<string, unknown>[] = [];
    if (f.actorId) and.push({ actorId: f.actorId });
    if (f.targetId) and.push({ targetIds: f.targetId });
    if (f.field) and.push({ fields: f.field });
    if (f.from) and.push({ at: mongoose.trusted({ $gte: f.from }) });
    if (f.to) and.push({ at: mongoose.trusted({ $lt: f.to }) });
    const base = and.length ? { $and: and } : {};
    return newestFirstPage(AuditEntry, base, args, { path: 'at', idKind: 'objectId' });
  }

  return { record, list };
}
