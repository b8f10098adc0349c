import { Repeater } from '@repeaterjs/repeater';
import type { EventDoc } from '../events/model.js';
import { decodeCursor, encodeCursor } from '../shared/cursors.js';
import { userInputError } from './errors.js';

export function eventCursor(seq: number): string {
  return encodeCursor([seq]);
}

/** The seq in an `after` argument, or null for "from now on"; a foreign cursor is the client's error. */
export function seqFromAfter(after: string | null | undefined): number | null {
  if (after == null) return null;
  const values = decodeCursor(after, 1);
  const seq = values?.[0];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw userInputError('after is not a cursor from an event', 'after');
  return seq;
}

/**
 * Only the events a subscriber asked for. A Repeater, so that when the client unsubscribes
 * the underlying log subscription is released at once, not at the next event.
 */
export function filterEvents(
  source: AsyncIterableIterator<EventDoc>,
  isWanted: (e: EventDoc) => boolean,
): AsyncIterableIterator<EventDoc> {
  return new Repeater<EventDoc>(async (push, stop) => {
    void stop.then(() => source.return?.());
    for await (const e of source) {
      if (isWanted(e)) await push(e);
    }
    stop();
  });
}
