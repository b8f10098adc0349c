/**
 * A pause a background loop takes between polls, which `wake()` ends early (new work, or a
 * stop). A wake while the loop is not pausing (busy with a poll) ends its next pause at once:
 * the work it announced is looked at, not slept over.
 */
export class WakeableSleep {
  #wake: (() => void) | undefined;
  #isWoken = false;

  sleep(ms: number): Promise<void> {
    if (this.#isWoken) {
      this.#isWoken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#isWoken = true;
  }
}
