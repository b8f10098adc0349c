/**
 * Live feeds: segment changes, interactions and campaign progress as they happen. Addresses are
 * shown as the API sends them (masked for an ANALYST).
 */
import type { Client } from 'graphql-ws';
import type { Segment } from './api.js';
import { el } from './dom.js';
import { count } from './format.js';
import { listen } from './live.js';

type SegmentChanged = {
  segmentChanged: { customer: { code: string; name: string; email: string | null }; from: Segment | null; to: Segment };
};
type InteractionRecorded = {
  interactionRecorded: { interaction: { type: string; channel: string; customer: { id: string; code: string } } };
};
type CampaignProgress = {
  campaignProgress: { campaign: { code: string }; status: string; stats: { sent: number; targeted: number } };
};

/** What other panels do when a feed moves. */
export type FeedListeners = {
  onSegmentChange: (from: Segment | null, to: Segment) => void;
  onInteraction: (customerId: string) => void;
  onCampaignProgress: () => void;
};

function feed(section: HTMLElement, key: string, title: string): (text: string) => void {
  const list = el('ul', { class: 'feed', 'data-feed': key, 'aria-label': title });
  section.append(el('h2', {}, title), list);
  return (text) => {
    list.prepend(el('li', {}, text));
    while (list.children.length > 50) list.lastChild!.remove();
  };
}

export function startFeeds(section: HTMLElement, client: Client, listeners: FeedListeners): void {
  const onSegment = feed(section, 'segments', 'Segment changes');
  const onInteraction = feed(section, 'interactions', 'Interactions');
  const onCampaign = feed(section, 'campaigns', 'Campaign progress');
  listen<SegmentChanged>(
    client,
    'subscription { segmentChanged { customer { code name email } from to } }',
    ({ segmentChanged: c }) => {
      onSegment(`${c.customer.code} ${c.customer.name} <${c.customer.email ?? '-'}>: ${c.from ?? '∅'} → ${c.to}`);
      listeners.onSegmentChange(c.from, c.to);
    },
  );
  listen<InteractionRecorded>(
    client,
    'subscription { interactionRecorded { interaction { type channel customer { id code } } } }',
    ({ interactionRecorded: { interaction: i } }) => {
      onInteraction(`${i.customer.code}: ${i.type} (${i.channel})`);
      listeners.onInteraction(i.customer.id);
    },
  );
  listen<CampaignProgress>(
    client,
    'subscription { campaignProgress { campaign { code } status stats { sent targeted } } }',
    ({ campaignProgress: p }) => {
      onCampaign(`${p.campaign.code}: ${p.status} ${count(p.stats.sent)}/${count(p.stats.targeted)}`);
      listeners.onCampaignProgress();
    },
  );
}
