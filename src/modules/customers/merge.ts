import type { Types } from 'mongoose';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import { eraseCustomer, type ErasureDeps } from './erasure.js';
import { Customer, type CustomerDoc } from './model.js';
import { searchKeysFor } from './normalize.js';

/** What a merge asks of interactions, besides the erasure's: injected, as the erasure's are. */
export type MergeDeps = ErasureDeps & {
  interactions: ErasureDeps['interactions'] & {
    moveInteractions(fromCustomerId: Types.ObjectId, toCustomerId: Types.ObjectId): Promise<void>;
    /** Aggregates and segment recomputed from the customer's interactions. */
    recomputeCustomer(customerId: Types.ObjectId): Promise<CustomerDoc | null>;
  };
  region: string;
};

/**
 * mergeCustomers: the duplicate's interactions move to the primary, whose aggregates and
 * segment are recomputed from them; the primary keeps its profile, gaining the duplicate's tags
 * and the e-mail or phone it lacked; the duplicate is erased and points at the primary. Each
 * step is idempotent and the duplicate is marked first, so a merge interrupted by a crash is
 * finished by running it again (and no interaction reaches the duplicate meanwhile).
 */
export async function mergeCustomers(
  deps: MergeDeps,
  primaryId: string,
  duplicateId: string,
): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
  const p = objectIdOrNull(primaryId);
  const d = objectIdOrNull(duplicateId);
  const primary = p && (await Customer.findById(p).lean<CustomerDoc>());
  const duplicate = d && (await Customer.findById(d).lean<CustomerDoc>());
  if (!p || !primary) return notFound('customer', 'primaryId');
  if (!d || !duplicate) return notFound('customer', 'duplicateId');
  if (p.equals(d)) return problem('duplicateId', 'a customer cannot be merged into itself', 'INVALID');
  if (primary.erasedAt) return problem('primaryId', 'this customer was deleted', 'INVALID_STATE');
  const isResumed = String(duplicate.mergedIntoId ?? '') === String(p);
  if (duplicate.erasedAt && !isResumed)
    return problem('duplicateId', 'this customer was deleted or merged already', 'INVALID_STATE');

  // 1. The duplicate takes nothing new from now on (erasedAt), says where it went, and keeps
  //    what the primary takes from it until the merge is done (a resumed merge reads it there).
  const now = deps.clock.now();
  const carried = duplicate.mergePending ?? {
    email: duplicate.email ?? null,
    phone: duplicate.phone ?? null,
    tags: duplicate.tags,
    unsubscribedAt: duplicate.unsubscribedAt ?? null,
  };
  // A compare-and-set: a concurrent merge or delete of the duplicate makes this one stop.
  const claimed = await Customer.updateOne(
    { _id: d, $or: [{ erasedAt: null }, { mergedIntoId: p }] },
    {
      $set: { mergedIntoId: p, erasedAt: duplicate.erasedAt ?? now, mergePending: carried, updatedAt: now },
      $inc: { rev: 1 },
    },
  );
  if (claimed.matchedCount === 0)
    return problem('duplicateId', 'this customer was deleted or merged meanwhile', 'INVALID_STATE');
  // 2. Its interactions become the primary's.
  await deps.interactions.moveInteractions(d, p);
  // 3. Its personal data goes (freeing its e-mail), after what the primary takes is read above.
  await eraseCustomer(deps, String(d), { isMerging: true });
  // 4. The primary's profile gains the tags and the contact details it lacked.
  {
    const next = {
      ...primary,
      email: primary.email ?? carried.email ?? null,
      phone: primary.phone ?? carried.phone ?? null,
    };
    // An opt-out given under either record holds for the merged one.
    const unsubscribedAt = primary.unsubscribedAt ?? carried.unsubscribedAt ?? null;
    await Customer.updateOne(
      { _id: p, erasedAt: null },
      {
        $addToSet: { tags: { $each: carried.tags } },
        $set: {
          ...(next.email ? { email: next.email } : {}),
          ...(next.phone ? { phone: next.phone } : {}),
          ...(unsubscribedAt ? { unsubscribedAt } : {}),
          searchKeys: searchKeysFor(next, deps.region),
          updatedAt: now,
        },
        $inc: { rev: 1 },
      },
    );
  }
  await Customer.updateOne({ _id: d }, { $unset: { mergePending: '' }, $inc: { rev: 1 } });
  // 5. Aggregates and segments from the interactions each now has.
  await deps.interactions.recomputeCustomer(d);
  const merged = await deps.interactions.recomputeCustomer(p);
  return { customer: merged ?? (await Customer.findById(p).lean<CustomerDoc>())! };
}
