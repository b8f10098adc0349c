import { Repeater } from '@repeaterjs/repeater';
import { CursorExpiredError } from '../events/retention.js';
import type { EventDoc } from '../events/model.js';
import { decodeCursor, encodeCursor } from '../shared/cursors.js';
import type { GraphQLContext } from './context.js';
import { cursorExpiredError, userInputError } from './errors.js';
import { EVENT_CURSOR_LIST } from './cursor-sealing.js';

export function eventCursor(seq: number): string {
  return encodeCursor([seq]);
}

/** The seq in an `after` argument, or null for "from now on"; a foreign cursor is the client's error. */
function seqFromAfter(after: string | null | undefined): number | null {
  if (after == null) return null;
  const values = decodeCursor(after, 1);
  const seq = values?.[0];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw userInputError('after is not a cursor from an event', 'after');
  return seq;
}

/**
 * The events after a subscription's `after` (or from now on) that `isWanted` keeps: every
 * subscription that takes an event cursor comes here. A cursor older than the log keeps is
 * refused at once with CURSOR_EXPIRED, and so is a replay that retention overtakes while it
 * reads: never a silent gap. A Repeater, so that when the client unsubscribes the underlying
 * log subscription is released at once, not at the next event.
 */
export async function subscribeToEvents(
  ctx: Pick<GraphQLContext, 'domain'>,
  after: string | null | undefined,
  isWanted: (e: EventDoc) => boolean,
): Promise<AsyncIterableIterator<EventDoc>> {
  const afterSeq = seqFromAfter(after);
  const { events, cursors } = ctx.domain;
  const toGraphQL = (err: unknown) =>
    err instanceof CursorExpiredError
      ? cursorExpiredError(cursors.seal(eventCursor(err.oldestSeq - 1), EVENT_CURSOR_LIST))
      : err;
  if (afterSeq !== null)
    await events.assertReplayable(afterSeq).catch((err: unknown) => Promise.reject(toGraphQL(err)));
  return new Repeater<EventDoc>(async (push, stop) => {
    const source = events.subscribe(afterSeq);
    void stop.then(() => source.return?.());
    try {
      for await (const e of source) {
        if (isWanted(e)) await push(e);
      }
    } catch (err) {
      throw toGraphQL(err);
    }
    stop();
  });
}
