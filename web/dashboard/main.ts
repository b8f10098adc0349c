/**
 * The operator dashboard: signs in, shows the business KPIs of the last 30 days with a revenue
 * chart, the segment distribution, live feeds (segment changes, interactions, campaign
 * progress) over graphql-ws, the system status, and a "How to use" panel. Everything comes from
 * the API with the viewer's token, so roles apply as everywhere (ANALYST sees addresses masked).
 */
import { createClient, type Client } from 'graphql-ws';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const httpUrl = `${location.origin}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws');
const app = document.getElementById('app')!;

type Money = { amount: string; currency: string };
type Point<T> = { start: string; value: T };
type DashboardData = {
  revenue: { total: Money; series: Array<Point<Money>> };
  purchases: { total: number };
  averageOrderValue: { total: Money };
  newCustomers: { total: number };
  complaintRate: { total: number };
  churnRate: { total: number };
  campaigns: { responseRate: number; conversionRate: number };
  segmentDistribution: Array<{ segment: string; count: number }>;
};

async function graphql<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.extensions?.code ?? e.message).join(', '));
  return body.data!;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function signIn(): void {
  app.replaceChildren();
  const form = el('form');
  form.append(
    el('h2', {}, 'Pulse CRM — sign in'),
    el('input', { name: 'email', type: 'email', placeholder: 'e-mail', required: '' }),
    el('input', { name: 'password', type: 'password', placeholder: 'password', required: '' }),
    el('button', { type: 'submit' }, 'Sign in'),
  );
  const alert = el('p', { role: 'alert' });
  form.append(alert);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    graphql<{ login: { token: string | null } }>(
      null,
      'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      { e: data.get('email'), p: data.get('password') },
    )
      .then(({ login }) => {
        if (!login.token) alert.textContent = 'wrong email or password';
        else void show(login.token);
      })
      .catch((err: Error) => (alert.textContent = err.message));
  });
  app.append(form);
}

const DASHBOARD_FIELDS = `
    revenue { total { amount currency } series { start value { amount currency } } }
    purchases { total } averageOrderValue { total { amount currency } } newCustomers { total }
    complaintRate { total } churnRate { total } campaigns { responseRate conversionRate }
    segmentDistribution { segment count }`;
const DASHBOARD = `query($from: DateTime!, $to: DateTime!) {
  dashboard(from: $from, to: $to) {${DASHBOARD_FIELDS}
  } }`;
/** The same figures, sent again by the server after every change that moves them. */
const DASHBOARD_LIVE = `subscription { dashboardLive(days: 30) {${DASHBOARD_FIELDS}
  } }`;

const HELP: Array<[string, string]> = [
  ['Revenue', 'The sum of purchases dated in the last 30 days (UTC days), exact, in the deployment currency.'],
  ['Purchases, average order', 'How many purchases, and revenue divided by that number.'],
  ['New customers', 'Customers created in the range.'],
  ['Complaint rate', 'Complaints divided by all recorded interactions in the range.'],
  ['Churn rate', 'Customers who moved into CHURNED in the range, divided by all customers now.'],
  ['Campaign rates', 'Responses and attributed purchases divided by deliveries, for campaigns started in the range.'],
  ['Segments', 'Customers per segment now; the rules are in segmentPolicy.'],
  ['Live feeds', 'Segment changes, interactions and campaign progress as they happen (graphql-ws).'],
  ['System', 'This API process: latency, error rate, event-loop lag, event-log lag and queued work.'],
];

/** Numbers as the viewer reads them: their locale's grouping, money in its currency. */
const LOCALE = navigator.language;
const grouped = new Intl.NumberFormat(LOCALE);
const percentFormat = new Intl.NumberFormat(LOCALE, {
  style: 'percent',
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

function percent(x: number): string {
  return percentFormat.format(x);
}

function count(n: number): string {
  return grouped.format(n);
}

/** An amount of the API (a decimal string in major units) in its currency, e.g. ₩1,234,567. */
function money(m: Money): string {
  return new Intl.NumberFormat(LOCALE, { style: 'currency', currency: m.currency }).format(Number(m.amount));
}

async function show(token: string): Promise<void> {
  app.replaceChildren();
  const { me } = await graphql<{ me: { email: string; role: string } }>(token, '{ me { email role } }');
  const header = el('header');
  const home = el('span', {}, `Pulse CRM — ${me.email} (${me.role})`);
  const links = el('span');
  const graphiql = el('a', { href: '/graphql', target: '_blank' }, 'GraphiQL');
  links.append(graphiql);
  header.append(home, links);
  const main = el('main');
  app.append(header, main);

  const kpis = el('section', { 'data-section': 'kpis' });
  const status = el('section', { 'data-section': 'status' });
  const feeds = el('section', { 'data-section': 'feeds' });
  const help = el('section', { 'data-section': 'help' });
  main.append(kpis, status, feeds, help);

  help.append(el('h2', {}, 'How to use'));
  const dl = el('dl');
  for (const [term, text] of HELP) dl.append(el('dt', {}, term), el('dd', {}, text));
  help.append(
    dl,
    el('p', {}, 'GraphiQL (top right) has these queries ready in its last tab ("Dashboard"); for example:'),
    el('pre', {}, DASHBOARD),
  );

  kpis.append(el('h2', {}, 'Last 30 days'));
  // Set once the figures are on the page (not for a role the dashboard is not for).
  let liveDashboard: ((d: DashboardData) => void) | null = null;
  const to = new Date();
  const from = new Date(to.getTime() - 29 * 86_400_000);
  try {
    const { dashboard: d } = await graphql<{ dashboard: DashboardData }>(token, DASHBOARD, {
      from: from.toISOString(),
      to: to.toISOString(),
    });
    const tiles = el('div', { class: 'tiles' });
    const values = new Map<string, HTMLElement>();
    const tile = (key: string, label: string) => {
      const t = el('div', { class: 'tile', 'data-kpi': key });
      const value = el('div', { class: 'value' });
      t.append(el('div', { class: 'label' }, label), value);
      tiles.append(t);
      values.set(key, value);
    };
    tile('revenue', 'Revenue');
    tile('purchases', 'Purchases');
    tile('aov', 'Average order');
    tile('new-customers', 'New customers');
    tile('complaint-rate', 'Complaint rate');
    tile('churn-rate', 'Churn rate');
    tile('response-rate', 'Campaign response rate');
    tile('conversion-rate', 'Campaign conversion rate');
    kpis.append(tiles, el('h2', {}, 'Revenue per day'));
    const chart = el('div', { 'data-chart': 'revenue' });
    kpis.append(chart);
    const series = (data: DashboardData): [number[], number[]] => [
      data.revenue.series.map((p) => Date.parse(p.start) / 1000),
      data.revenue.series.map((p) => Number(p.value.amount)),
    ];
    const plot = new uPlot(
      {
        width: 420,
        height: 180,
        axes: [{}, { size: 80 }],
        series: [{}, { label: 'Revenue', stroke: '#4f7cff', fill: 'rgba(79,124,255,0.15)' }],
      },
      series(d),
      chart,
    );
    kpis.append(el('h2', {}, 'Segments now'));
    const segmentRows = new Map<string, { text: HTMLElement; bar: HTMLElement }>();
    for (const s of d.segmentDistribution) {
      const row = el('div', { 'data-segment': s.segment });
      const text = el('span');
      const bar = el('div', { class: 'bar' });
      row.append(text, bar);
      kpis.append(row);
      segmentRows.set(s.segment, { text, bar });
    }
    const render = (data: DashboardData) => {
      values.get('revenue')!.textContent = money(data.revenue.total);
      values.get('purchases')!.textContent = count(data.purchases.total);
      values.get('aov')!.textContent = money(data.averageOrderValue.total);
      values.get('new-customers')!.textContent = count(data.newCustomers.total);
      values.get('complaint-rate')!.textContent = percent(data.complaintRate.total);
      values.get('churn-rate')!.textContent = percent(data.churnRate.total);
      values.get('response-rate')!.textContent = percent(data.campaigns.responseRate);
      values.get('conversion-rate')!.textContent = percent(data.campaigns.conversionRate);
      const max = Math.max(1, ...data.segmentDistribution.map((s) => s.count));
      for (const s of data.segmentDistribution) {
        const row = segmentRows.get(s.segment);
        if (!row) continue;
        row.text.textContent = `${s.segment}: ${count(s.count)}`;
        row.bar.style.width = `${Math.max(2, (s.count / max) * 100)}%`;
      }
    };
    render(d);
    liveDashboard = (data) => {
      render(data);
      plot.setData(series(data));
    };
  } catch (err) {
    kpis.append(el('p', { role: 'alert' }, `The dashboard is not available to your role (${(err as Error).message}).`));
  }

  const client: Client = createClient({ url: wsUrl, connectionParams: { authorization: `Bearer ${token}` } });
  // Leaving the page closes the socket properly (the server completes the subscriptions).
  window.addEventListener('pagehide', () => void client.dispose());
  // The tiles, the chart and the segment bars move with every change, without reloading.
  const live = liveDashboard as ((d: DashboardData) => void) | null;
  if (live)
    client.subscribe<{ dashboardLive: DashboardData }>(
      { query: DASHBOARD_LIVE },
      {
        next: ({ data }) => {
          if (data) live(data.dashboardLive);
        },
        error: () => {},
        complete: () => {},
      },
    );
  const feed = (key: string, title: string) => {
    feeds.append(el('h2', {}, title));
    const list = el('ul', { class: 'feed', 'data-feed': key });
    feeds.append(list);
    return (text: string) => {
      list.prepend(el('li', {}, text));
      while (list.children.length > 50) list.lastChild!.remove();
    };
  };
  const onSegment = feed('segments', 'Segment changes');
  const onInteraction = feed('interactions', 'Interactions');
  const onCampaign = feed('campaigns', 'Campaign progress');
  client.subscribe<{
    segmentChanged: { customer: { code: string; name: string; email: string | null }; from: string | null; to: string };
  }>(
    { query: 'subscription { segmentChanged { customer { code name email } from to } }' },
    {
      next: ({ data }) => {
        const c = data!.segmentChanged;
        onSegment(`${c.customer.code} ${c.customer.name} <${c.customer.email ?? '-'}>: ${c.from ?? '∅'} → ${c.to}`);
      },
      error: () => {},
      complete: () => {},
    },
  );
  client.subscribe<{
    interactionRecorded: { interaction: { type: string; channel: string; customer: { code: string } } };
  }>(
    { query: 'subscription { interactionRecorded { interaction { type channel customer { code } } } }' },
    {
      next: ({ data }) => {
        const i = data!.interactionRecorded.interaction;
        onInteraction(`${i.customer.code}: ${i.type} (${i.channel})`);
      },
      error: () => {},
      complete: () => {},
    },
  );
  client.subscribe<{
    campaignProgress: { campaign: { code: string }; status: string; stats: { sent: number; targeted: number } };
  }>(
    { query: 'subscription { campaignProgress { campaign { code } status stats { sent targeted } } }' },
    {
      next: ({ data }) => {
        const p = data!.campaignProgress;
        onCampaign(`${p.campaign.code}: ${p.status} ${count(p.stats.sent)}/${count(p.stats.targeted)}`);
      },
      error: () => {},
      complete: () => {},
    },
  );

  status.append(el('h2', {}, 'System'));
  const statusList = el('dl', { 'data-status': '' });
  status.append(statusList);
  client.subscribe<{ systemStatus: Record<string, unknown> & { queues: Record<string, number> } }>(
    {
      query: `subscription { systemStatus(intervalSeconds: 5) { uptimeSeconds requestsPerSecond p95LatencyMs errorRate
        eventLoopLagMs eventLogLag activeWebSockets queues { automationSteps webhookDeliveries campaigns } } }`,
    },
    {
      next: ({ data }) => {
        const s = data!.systemStatus;
        statusList.replaceChildren();
        const row = (k: string, v: string) => statusList.append(el('dt', {}, k), el('dd', {}, v));
        row('Uptime', `${Math.round(Number(s.uptimeSeconds))} s`);
        row('Requests', `${Number(s.requestsPerSecond).toFixed(2)}/s, p95 ${Number(s.p95LatencyMs).toFixed(1)} ms`);
        row('Errors', percent(Number(s.errorRate)));
        row('Event loop lag', `${Number(s.eventLoopLagMs).toFixed(1)} ms`);
        row('Event log lag', String(s.eventLogLag));
        row('WebSockets', String(s.activeWebSockets));
        row(
          'Queued',
          `${s.queues.automationSteps} steps, ${s.queues.webhookDeliveries} webhooks, ${s.queues.campaigns} campaigns`,
        );
      },
      error: () => {},
      complete: () => {},
    },
  );
}

signIn();
