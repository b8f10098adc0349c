import type { AutomationEvents } from '../modules/automation/events.js';
import type { CampaignEvents } from '../modules/campaigns/events.js';
import type { CustomerEvents } from '../modules/customers/events.js';
import type { InteractionEvents } from '../modules/interactions/events.js';
import type { SegmentEvents } from '../modules/segments/events.js';

/**
 * Every event type and the payload it carries, assembled from the domains' `events.ts`: the
 * compiler checks each `append(type, payload)` and each consumer's reading of a payload.
 */
export type EventPayloads = SegmentEvents &
  InteractionEvents &
  CampaignEvents &
  AutomationEvents &
  CustomerEvents & {
    /** Fills a seq whose writer never wrote it (it died between allocating and inserting). */
    GAP: Record<string, never>;
  };

export type EventType = keyof EventPayloads;
/** The types a domain may append (GAP is the log's own). */
export type AppendableEventType = Exclude<EventType, 'GAP'>;

/** One entry of the log, its payload typed by its type: `if (e.type === …)` narrows it. */
export type EventDoc<T extends EventType = EventType> = {
  [K in T]: { _id: string; seq: number; type: K; at: Date; payload: EventPayloads[K] };
}[T];
