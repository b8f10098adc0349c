/** What a problem the caller can fix is about: these codes reach clients as `UserError.code`. */
export type ProblemCode =
  'INVALID' | 'DUPLICATE' | 'NOT_FOUND' | 'INVALID_CREDENTIALS' | 'FORBIDDEN' | 'INVALID_STATE' | 'CHANNEL_UNAVAILABLE';

/** A problem the caller can fix, returned as a userError. */
export type FieldProblem = {
  /** The path of the argument at fault (`['input', 'email']`), or null for the whole call. */
  field: string[] | null;
  message: string;
  code: ProblemCode;
};

/** One problem, as the `problems` of a domain result. */
export function problem(
  field: string | string[] | null,
  message: string,
  code: ProblemCode,
): { problems: FieldProblem[] } {
  return { problems: [{ field: typeof field === 'string' ? [field] : field, message, code }] };
}

/** "no customer has this id" on the argument `field` (by default `id`). */
export function notFound(what: string, field: string | string[] = 'id'): { problems: FieldProblem[] } {
  return problem(field, `no ${what} has this id`, 'NOT_FOUND');
}
