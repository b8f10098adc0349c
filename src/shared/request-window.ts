/**
 * The GraphQL-over-HTTP operations of the last minute (real time), for the status query:
 * the rate and error share from per-second counters (exact at any rate), the 95th-percentile
 * latency from the most recent `maxSamples` operations (a ring, constant memory).
 */
export class RequestWindow {
  #seconds = new Map<number, { n: number; errors: number }>();
  #latencies: number[] = [];
  #latencyAt: number[] = [];
  #next = 0;

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxSamples = 5_000,
  ) {}

  record(ms: number, isError: boolean): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    const bucket = this.#seconds.get(second) ?? { n: 0, errors: 0 };
    bucket.n++;
    if (isError) bucket.errors++;
    this.#seconds.set(second, bucket);
    this.#latencies[this.#next] = ms;
    this.#latencyAt[this.#next] = now;
    this.#next = (this.#next + 1) % this.maxSamples;
  }

  summary(since: Date): { requestsPerSecond: number; p95LatencyMs: number; errorRate: number } {
    const now = Date.now();
    const from = now - this.windowMs;
    let n = 0;
    let errors = 0;
    for (const [second, b] of this.#seconds) {
      if (second * 1000 < from - 1000) this.#seconds.delete(second);
      else {
        n += b.n;
        errors += b.errors;
      }
    }
    if (!n) return { requestsPerSecond: 0, p95LatencyMs: 0, errorRate: 0 };
    // A process younger than the window is measured over its life.
    const seconds = Math.max(1, Math.min(this.windowMs, now - since.getTime()) / 1000);
    const recent = this.#latencies.filter((_, i) => this.#latencyAt[i]! >= from).sort((a, b) => a - b);
    return {
      requestsPerSecond: n / seconds,
      p95LatencyMs: recent.length ? recent[Math.min(recent.length - 1, Math.ceil(recent.length * 0.95) - 1)]! : 0,
      errorRate: errors / n,
    };
  }
}
