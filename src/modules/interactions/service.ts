import type { Types } from 'mongoose';
import type { EventLog } from '../../events/log.js';
import type { Clock } from '../../shared/clock.js';
import { KeyedMutex } from '../../shared/keyed-mutex.js';
import type { Logger } from '../../shared/logger.js';
import type { SegmentsService } from '../segments/service.js';
import { recomputeCustomer } from './aggregates.js';
import { eraseDescriptionsOf, moveInteractions } from './erasure.js';
import type { RecordInteractionInput } from './input.js';
import type { InteractionDoc } from './model.js';
import { recordInteraction, recordInteractions, type RecordingDeps, type RecordResult } from './recording.js';
import { finishUnfinishedAttempts, repairPendingApplications, type RepairDeps } from './repair.js';
import { findInteractionById, firstPagesForCustomers, listInteractions } from './timeline.js';

export type { RecordInteractionInput } from './input.js';
export { MAX_BATCH, type RecordResult } from './recording.js';

/** An interaction event as the schema shows it. */
export type InteractionEventView = { interaction: InteractionDoc; cursor: string };

export type InteractionsService = ReturnType<typeof createInteractionsService>;

export function createInteractionsService(deps: {
  clock: Clock;
  logger: Logger;
  currency: string;
  events: Pick<EventLog, 'append' | 'appendMany'>;
  segments: Pick<SegmentsService, 'getPolicy' | 'settleSegment' | 'recordChanges'>;
  /**
   * Called with what was recorded (once the customer and the event are written, before the
   * journal entry is removed, so a crash replays it): campaign attribution.
   */
  onRecorded?: (recorded: InteractionDoc[]) => Promise<unknown>;
}) {
  const bound: RecordingDeps & RepairDeps = {
    ...deps,
    perCustomer: new KeyedMutex(),
    unfinished: new Map(),
    finishUnfinished: (interactionIds) => finishUnfinishedAttempts(bound, interactionIds),
  };
  return {
    recordInteraction: (input: RecordInteractionInput, path?: string[]) => recordInteraction(bound, input, path),
    recordPurchase: (input: Omit<RecordInteractionInput, 'type'> & { amount: string }): Promise<RecordResult> =>
      recordInteraction(bound, { ...input, type: 'PURCHASE' }),
    recordInteractions: (inputs: RecordInteractionInput[]) => recordInteractions(bound, inputs),
    repairPendingApplications: (olderThanMs?: number) => repairPendingApplications(bound, olderThanMs),
    recomputeCustomer: (customerId: Types.ObjectId) => recomputeCustomer(bound, customerId),
    eraseDescriptionsOf,
    moveInteractions,
    findById: findInteractionById,
    listInteractions,
    firstPagesForCustomers,
  };
}
