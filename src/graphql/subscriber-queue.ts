import type { ExecutionResult } from 'graphql';

type Next = IteratorResult<ExecutionResult>;

/**
 * One subscriber's results not yet taken, as the async iterator graphql-ws reads from: a result
 * goes straight to a waiting `next()`, or waits in a bounded list. Ending it (the source ended
 * or failed, the subscriber was dropped) still hands over what waits, then the end or the
 * error; `return()` (the client unsubscribed, the socket closed) ends it at once. `onEnd` runs
 * once, however it ends. One of these per subscriber per shared execution, so it is kept to a
 * list and a callback: no promise per result unless the subscriber is waiting for one.
 */
export class SubscriberQueue implements AsyncIterableIterator<ExecutionResult> {
  readonly #waiting: ExecutionResult[] = [];
  #taker: ((next: Next) => void) | undefined;
  #failTaker: ((err: unknown) => void) | undefined;
  #ending: { error?: unknown } | undefined;
  #isDone = false;

  constructor(
    private readonly capacity: number,
    private readonly onEnd: () => void,
  ) {}

  /** True when the reader waits for a result and none waits for it: it has taken every result given. */
  isIdle(): boolean {
    return this.#taker !== undefined && !this.#ending;
  }

  /** Hands a result over; false, and nothing done, when `capacity` results already wait. */
  offer(result: ExecutionResult): boolean {
    if (this.#ending) return true;
    if (this.#taker) {
      this.#take({ value: result, done: false });
      return true;
    }
    if (this.#waiting.length >= this.capacity) return false;
    this.#waiting.push(result);
    return true;
  }

  /** Hands over a last result, whatever waits already, and ends. */
  endWith(result: ExecutionResult): void {
    if (this.#ending) return;
    if (this.#taker) this.#take({ value: result, done: false });
    else this.#waiting.push(result);
    this.end();
  }

  /** Ends after the results that wait: with `error` thrown to the reader, when given. */
  end(error?: unknown): void {
    if (this.#ending) return;
    this.#ending = error === undefined ? {} : { error };
    this.onEnd();
    if (this.#taker) this.#settleEnd();
  }

  next(): Promise<Next> {
    const result = this.#waiting.shift();
    if (result) return Promise.resolve({ value: result, done: false });
    if (this.#ending) return new Promise((resolve, reject) => this.#finish(resolve, reject));
    return new Promise((resolve, reject) => {
      this.#taker = resolve;
      this.#failTaker = reject;
    });
  }

  return(): Promise<Next> {
    this.#waiting.length = 0;
    if (!this.#ending) {
      this.#ending = {};
      this.onEnd();
    }
    this.#isDone = true;
    this.#take({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(): Promise<Next> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #take(next: Next): void {
    const taker = this.#taker;
    this.#taker = undefined;
    this.#failTaker = undefined;
    taker?.(next);
  }

  #settleEnd(): void {
    const resolve = this.#taker!;
    const reject = this.#failTaker!;
    this.#taker = undefined;
    this.#failTaker = undefined;
    this.#finish(resolve, reject);
  }

  /** The end, once: the error the first time it is read, then done. */
  #finish(resolve: (next: Next) => void, reject: (err: unknown) => void): void {
    const error = this.#ending?.error;
    if (!this.#isDone && error !== undefined) {
      this.#isDone = true;
      reject(error);
      return;
    }
    this.#isDone = true;
    resolve({ value: undefined, done: true });
  }
}
