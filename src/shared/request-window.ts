/**
 * The GraphQL-over-HTTP operations of the last minute (real time), for the status query:
 * rate, 95th-percentile latency and error share. Bounded: at most `max` samples are kept.
 */
export class RequestWindow {
  #samples: Array<{ at: number; ms: number; isError: boolean }> = [];

  constructor(
    private readonly windowMs = 60_000,
    private readonly max = 20_000,
  ) {}

  record(ms: number, isError: boolean): void {
    this.#samples.push({ at: Date.now(), ms, isError });
    if (this.#samples.length > this.max) this.#samples.splice(0, this.#samples.length - this.max);
  }

  summary(since: Date): { requestsPerSecond: number; p95LatencyMs: number; errorRate: number } {
    const now = Date.now();
    const from = now - this.windowMs;
    this.#samples = this.#samples.filter((s) => s.at >= from);
    const n = this.#samples.length;
    if (!n) return { requestsPerSecond: 0, p95LatencyMs: 0, errorRate: 0 };
    // A process younger than the window is measured over its life.
    const seconds = Math.max(1, Math.min(this.windowMs, now - since.getTime()) / 1000);
    const latencies = this.#samples.map((s) => s.ms).sort((a, b) => a - b);
    return {
      requestsPerSecond: n / seconds,
      p95LatencyMs: latencies[Math.min(n - 1, Math.ceil(n * 0.95) - 1)]!,
      errorRate: this.#samples.filter((s) => s.isError).length / n,
    };
  }
}
