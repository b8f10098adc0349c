import type { CustomerDoc } from '../customers/model.js';
import type { RecipientDoc } from './model.js';

/** What a message needs of a customer: the fields `recipientOf` reads. */
export const RECIPIENT_FIELDS = { code: 1, name: 1, email: 1, phone: 1, segment: 1 } as const;

/** A customer as the recipient of a message: what renders and addresses it, whatever sends it. */
export function recipientOf(customer: Pick<CustomerDoc, '_id' | keyof typeof RECIPIENT_FIELDS>): RecipientDoc {
  return {
    customerId: customer._id,
    code: customer.code,
    name: customer.name,
    email: customer.email ?? null,
    phone: customer.phone ?? null,
    segment: customer.segment,
  };
}
