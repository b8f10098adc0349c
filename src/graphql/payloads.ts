import type { FieldProblem } from '../shared/problems.js';

/** A domain problem as the schema's UserError. */
export function toUserErrors(problems: FieldProblem[]) {
  return problems.map((p) => ({ field: p.field, message: p.message, code: p.code }));
}
