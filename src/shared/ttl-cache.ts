/**
 * A value reloaded at most every `ttlMs`, shared by concurrent callers. `invalidate()` makes the
 * next `get()` load afresh, and a load that was already running when it was called is not kept
 * (it may have read the old state): a change made in this process is seen by the next read.
 */
export function createTtlCache<T>(ttlMs: number, load: () => Promise<T>) {
  let cached: { at: number; value: T } | null = null;
  let generation = 0;
  return {
    async get(): Promise<T> {
      if (cached && Date.now() - cached.at < ttlMs) return cached.value;
      const started = generation;
      const value = await load();
      if (started === generation) cached = { at: Date.now(), value };
      return value;
    },
    invalidate(): void {
      generation++;
      cached = null;
    },
  };
}
