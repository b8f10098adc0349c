import type { Causation } from '../automation/model.js';
import type { CustomerDoc } from '../customers/model.js';
import type { InteractionDoc } from './model.js';

/** The events the interactions domain publishes, by type. */
export type InteractionEvents = { INTERACTION_RECORDED: InteractionRecordedPayload };

/** What an interaction event carries: the interaction and its customer right after it was applied. */
export type InteractionRecordedPayload = {
  interaction: InteractionDoc;
  customer: CustomerDoc;
  causedBy?: Causation | null;
};
