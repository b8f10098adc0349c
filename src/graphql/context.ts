import type DataLoader from 'dataloader';
import type { CampaignDoc } from '../modules/campaigns/model.js';
import type { RuleDoc } from '../modules/automation/model.js';
import type { UserDoc } from '../modules/users/model.js';
import type { CustomerDoc } from '../modules/customers/model.js';
import type { Page } from '../db/pagination.js';
import type { AuditChange } from '../modules/audit/model.js';
import type { Domain } from '../app/domain.js';
import type { Viewer } from '../modules/users/service.js';
import type { TimelineKey } from '../modules/interactions/loaders.js';
import type { InteractionDoc } from '../modules/interactions/model.js';
import type { SegmentPolicy } from '../shared/segment-policy.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ServerRuntime } from '../shared/runtime.js';
import type { RateLimits } from './rate-limits.js';

/** What every resolver receives, over HTTP and over WebSocket alike. */
export type GraphQLContext = {
  requestId: string;
  logger: Logger;
  clock: Clock;
  runtime: ServerRuntime;
  domain: Domain;
  /** Who is calling; null when not signed in (only @public fields answer then). */
  viewer: Viewer | null;
  /** The client's address (behind TRUST_PROXY proxies: the one they name). */
  clientAddress: string;
  /** The request budgets (sign-in attempts are counted per field). */
  limits: RateLimits;
  /** What this request's mutations called and changed, for its audit entry. */
  audit: { calls: Array<{ field: string; args: unknown }>; changes: AuditChange[] };
  loaders: {
    customerById: DataLoader<string, CustomerDoc | null>;
    campaignById: DataLoader<string, CampaignDoc | null>;
    firstTimelinePage: DataLoader<TimelineKey, Page<InteractionDoc>, string>;
    /** The segment policy, read at most once per request. */
    policy: () => Promise<SegmentPolicy>;
    /** A customer's complaints in the last 7 days, for its next best actions. */
    complaintsLast7Days: DataLoader<string, number>;
    automationRuleById: DataLoader<string, RuleDoc | null>;
    /** A task's assignee (a user, active or not). */
    taskAssigneeById: DataLoader<string, UserDoc | null>;
  };
  /** Replaces the loaders: each event of a subscription is resolved with fresh ones. */
  renewLoaders(): void;
};
