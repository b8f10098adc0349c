import mongoose, { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import { toGlobalId } from '../../shared/ids.js';
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

/** What an erased customer's personal values become in the audit log. */
const ERASED_VALUE = '[erased]';
/** The argument keys and changed fields that hold a customer's personal values. */
const PERSONAL_KEYS = new Set(['name', 'email', 'phone', 'tags', 'description']);
/** Argument keys that say whose record an object of arguments is about. */
const OWNER_KEYS = ['id', 'customerId'] as const;

/**
 * The arguments (JSON) with the personal values given for `customerId` replaced. An object of
 * arguments is about the record its `id`/`customerId` names, or else about what its parent is
 * about; at the top, the entry's target (createCustomer names no id: its entry names the
 * customer it created). Values given for other records stay.
 */
function argumentsWithoutPersonalValues(input: string, customerId: string): string {
  const redact = (value: unknown, isAboutTheCustomer: boolean): unknown => {
    if (Array.isArray(value)) return value.map((v) => redact(v, isAboutTheCustomer));
    if (value === null || typeof value !== 'object') return value;
    const owner = OWNER_KEYS.map((k) => (value as Record<string, unknown>)[k]).find((v) => typeof v === 'string');
    const isAboutIt = owner === undefined ? isAboutTheCustomer : owner === customerId;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        isAboutIt && PERSONAL_KEYS.has(k) && v != null ? ERASED_VALUE : redact(v, isAboutIt),
      ]),
    );
  };
  return JSON.stringify(redact(JSON.parse(input), true));
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
    const stored: AuditEntryDoc = { _id: new Types.ObjectId(), at: deps.clock.now(), ...entry };
    await AuditEntry.collection.insertOne(stored);
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

  /**
   * Erasure: the entries naming the customer stay (who did what, when), with the personal
   * values given for them in the arguments, and their changed personal fields, replaced.
   */
  async function erasePersonalValues(customerId: string): Promise<void> {
    const targetId = toGlobalId('Customer', customerId);
    const erased = JSON.stringify(ERASED_VALUE);
    for (const entry of await AuditEntry.find({ targetIds: targetId }).lean<AuditEntryDoc[]>()) {
      const input = argumentsWithoutPersonalValues(entry.input, targetId);
      const changes = entry.changes.map((c) =>
        c.targetId === targetId && PERSONAL_KEYS.has(c.field)
          ? { ...c, before: c.before === null ? null : erased, after: c.after === null ? null : erased }
          : c,
      );
      if (input !== entry.input || JSON.stringify(changes) !== JSON.stringify(entry.changes))
        await AuditEntry.updateOne({ _id: entry._id }, { $set: { input, changes } });
    }
  }

  /** The entry of one mutation request: `calls` are its root fields and their arguments. */
  async function recordMutation(
    entry: Omit<AuditEntryDoc, '_id' | 'at' | 'fields' | 'input' | 'targetIds'> & {
      calls: Array<{ field: string; args: unknown }>;
    },
  ): Promise<void> {
    const { calls, ...rest } = entry;
    const described = describeArguments(Object.fromEntries(calls.map((c) => [c.field, c.args])));
    await record({
      ...rest,
      fields: calls.map((c) => c.field),
      // The records it named, and the records it changed (createCustomer names its new customer so).
      targetIds: [...new Set([...described.targetIds, ...entry.changes.map((c) => c.targetId)])],
      input: described.input,
    });
  }

  return { record, recordMutation, list, erasePersonalValues };
}
