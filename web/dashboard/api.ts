/**
 * The page's GraphQL client over HTTP. Roles apply as everywhere: a field the viewer's role may
 * not read comes back null with a FORBIDDEN error at its path, and the rest of the answer is
 * still there, so each panel shows what it got and says what is hidden.
 */

export type Money = { amount: string; currency: string };
export type PageInfo = { hasNextPage: boolean; endCursor: string | null };

export const CHANNELS = ['WEB', 'APP', 'PHONE', 'STORE', 'EMAIL', 'SMS', 'SYSTEM'] as const;
export type Channel = (typeof CHANNELS)[number];
export const SEGMENTS = ['VIP', 'LOYAL', 'NEW', 'AT_RISK', 'CHURNED'] as const;
export type Segment = (typeof SEGMENTS)[number];

type ErrorBody = { message: string; path?: Array<string | number>; extensions?: { code?: string } };

/** The whole operation failed: nothing to show (for example FORBIDDEN on a root field). */
export class ApiError extends Error {
  constructor(readonly codes: string[]) {
    super(codes.join(', '));
  }

  get isForbidden(): boolean {
    return this.codes.includes('FORBIDDEN');
  }
}

/** An answer with data: `isDenied(path)` tells a field hidden from the role from one that is empty. */
export class Answer<T> {
  constructor(
    readonly data: T,
    private readonly errors: ErrorBody[],
  ) {}

  /** True when the field at this path (or a field inside it) was refused to the viewer's role. */
  isDenied(...path: Array<string | number>): boolean {
    return this.errors.some((e) => e.extensions?.code === 'FORBIDDEN' && path.every((step, i) => e.path?.[i] === step));
  }
}

export class Api {
  constructor(
    private readonly url: string,
    readonly token: string | null,
  ) {}

  async query<T>(query: string, variables?: Record<string, unknown>): Promise<Answer<T>> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json().catch(() => ({}))) as { data?: T | null; errors?: ErrorBody[] };
    const errors = body.errors ?? [];
    if (body.data == null)
      throw new ApiError(errors.length ? errors.map((e) => e.extensions?.code ?? e.message) : [`HTTP ${res.status}`]);
    return new Answer(body.data, errors);
  }
}

/** Why a panel is empty, in a sentence for the viewer. */
export function describeFailure(err: unknown): string {
  if (err instanceof ApiError && err.isForbidden) return 'not available to your role (FORBIDDEN)';
  if (err instanceof ApiError && err.codes.includes('UNAUTHENTICATED')) return 'your session ended: sign in again';
  return `could not be read (${err instanceof Error ? err.message : String(err)})`;
}
