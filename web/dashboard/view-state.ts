/**
 * What the page shows, kept in the URL's hash so a view can be linked and the browser's back
 * button works: `#segment=VIP&customer=<id>`, `#channel=STORE&campaign=<id>`. Channel and
 * segment exclude each other: the dashboard slices by one of them, never both.
 */
import { CHANNELS, SEGMENTS, type Channel, type Segment } from './api.js';

export type ViewState = {
  channel: Channel | null;
  segment: Segment | null;
  campaign: string | null;
  customer: string | null;
};

const KEYS = ['channel', 'segment', 'campaign', 'customer'] as const;

function oneOf<T extends string>(values: readonly T[], value: string | null): T | null {
  return values.includes(value as T) ? (value as T) : null;
}

export function readViewState(): ViewState {
  const params = new URLSearchParams(location.hash.slice(1));
  const channel = oneOf(CHANNELS, params.get('channel'));
  return {
    channel,
    segment: channel ? null : oneOf(SEGMENTS, params.get('segment')),
    campaign: params.get('campaign') || null,
    customer: params.get('customer') || null,
  };
}

/** The link to the current view changed by `patch`. */
export function hrefFor(patch: Partial<ViewState>): string {
  const next = { ...readViewState(), ...patch };
  if (patch.channel) next.segment = null;
  if (patch.segment) next.channel = null;
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = next[key];
    if (value) params.set(key, value);
  }
  return `#${params.toString()}`;
}

/**
 * A link to the current view changed by `patch`. Its target follows the view: the page calls
 * `refreshViewLinks` after each change, so a link made earlier keeps the panels open since.
 */
export function viewLink(patch: Partial<ViewState>, text: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.dataset.view = JSON.stringify(patch);
  a.href = hrefFor(patch);
  a.textContent = text;
  return a;
}

export function refreshViewLinks(root: ParentNode): void {
  for (const a of root.querySelectorAll<HTMLAnchorElement>('a[data-view]'))
    a.href = hrefFor(JSON.parse(a.dataset.view!) as Partial<ViewState>);
}
