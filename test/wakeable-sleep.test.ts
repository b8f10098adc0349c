/** The pause between a background loop's polls, and the wakes that end it. */
import { describe, expect, it } from '@jest/globals';
import { WakeableSleep } from '../src/shared/wakeable-sleep.js';

describe('WakeableSleep', () => {
  it('ends a pause under way when woken', async () => {
    const pause = new WakeableSleep();
    const slept = pause.sleep(60_000);
    pause.wake();
    await expect(slept).resolves.toBeUndefined();
  });

  it('ends the next pause at once when woken while not pausing, and only that one', async () => {
    const pause = new WakeableSleep();
    pause.wake(); // work announced while the loop was busy with a poll
    pause.wake();
    await expect(pause.sleep(60_000)).resolves.toBeUndefined();
    // The wake was used: the next pause lasts until it is woken again.
    let isOver = false;
    const next = pause.sleep(60_000).then(() => (isOver = true));
    await new Promise(setImmediate);
    expect(isOver).toBe(false);
    pause.wake();
    await next;
    expect(isOver).toBe(true);
  });
});
