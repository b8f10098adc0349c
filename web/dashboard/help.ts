/** The "How to use" panel: what each figure means and how to drill down. */
import { definitions, el } from './dom.js';
import { DASHBOARD } from './kpi-panel.js';

const HELP: Array<[string, string]> = [
  ['Revenue', 'The sum of purchases dated in the last 30 days (UTC days), exact, in the deployment currency.'],
  ['Purchases, average order', 'How many purchases, and revenue divided by that number.'],
  ['New customers', 'Customers created in the range.'],
  ['Complaint rate', 'Complaints divided by all recorded interactions in the range.'],
  ['Churn rate', 'Customers who moved into CHURNED in the range, divided by all customers now.'],
  ['Campaign rates', 'Responses and attributed purchases divided by deliveries, for campaigns started in the range.'],
  ['Segments', 'Customers per segment now; the rules are in segmentPolicy.'],
  [
    'Drill down',
    'Channel and Segment slice the KPIs; a segment lists its customers; a customer shows their timeline and insights; a campaign its KPIs and recipients. The address bar keeps the view, so it can be linked.',
  ],
  ['Live', 'Tiles, chart and feeds move as things happen (graphql-ws), without reloading.'],
  ['System', 'This API process: latency, error rate, event-loop lag, event-log lag and queued work.'],
];

export function showHelp(section: HTMLElement): void {
  section.append(
    el('h2', {}, 'How to use'),
    definitions(HELP),
    el('p', {}, 'GraphiQL (top right) has these queries ready in its last tab ("Dashboard"); for example:'),
    el('pre', {}, DASHBOARD),
  );
}
