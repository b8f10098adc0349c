/**
 * The operator dashboard: signs in, then shows the business KPIs of the last 30 days (whole or
 * sliced by channel or segment) with a revenue chart and the segment distribution, the campaigns
 * with their KPIs, a segment's customers, a customer's timeline and insights, live feeds over
 * graphql-ws, the system status and a "How to use" panel. The view is kept in the URL's hash
 * (view-state.ts). Everything comes from the API with the viewer's token, so roles apply as
 * everywhere (an ANALYST sees addresses masked; what a role may not read is marked hidden).
 */
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { Api } from './api.js';
import { CampaignsPanel } from './campaigns-panel.js';
import { CustomerPanel } from './customer-panel.js';
import { el } from './dom.js';
import { startFeeds } from './feeds.js';
import { showHelp } from './help.js';
import { DASHBOARD_FIELDS, KpiPanel, type DashboardData } from './kpi-panel.js';
import { coalesced, connectLive, listen } from './live.js';
import { SegmentCustomersPanel } from './segment-customers.js';
import { startSystemStatus } from './system-status.js';
import { readViewState, refreshViewLinks } from './view-state.js';

const httpUrl = `${location.origin}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws');
const app = document.getElementById('app')!;

/** The same figures as the unsliced KPIs, sent again by the server after every change that moves them. */
const DASHBOARD_LIVE = `subscription { dashboardLive(days: 30) {${DASHBOARD_FIELDS}
  } }`;

function signIn(): void {
  app.replaceChildren();
  const email = el('input', { name: 'email', type: 'email', autocomplete: 'username', required: '' });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: '' });
  const alert = el('p', { role: 'alert' });
  const form = el(
    'form',
    { 'aria-labelledby': 'sign-in' },
    el('h1', { id: 'sign-in' }, 'Pulse CRM — sign in'),
    el('label', {}, 'E-mail ', email),
    el('label', {}, 'Password ', password),
    el('button', { type: 'submit' }, 'Sign in'),
    alert,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    new Api(httpUrl, null)
      .query<{ login: { token: string | null } }>(
        'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
        { e: email.value, p: password.value },
      )
      .then(({ data: { login } }) => {
        if (!login.token) alert.textContent = 'wrong email or password';
        else void show(new Api(httpUrl, login.token));
      })
      .catch((err: Error) => (alert.textContent = err.message));
  });
  app.append(form);
}

function panel(name: string, label: string, opts: { isWide?: boolean } = {}): HTMLElement {
  return el('section', { 'data-section': name, 'aria-label': label, ...(opts.isWide ? { class: 'wide' } : {}) });
}

async function show(api: Api): Promise<void> {
  app.replaceChildren();
  const { me } = (await api.query<{ me: { email: string; role: string } }>('{ me { email role } }')).data;
  const graphiql = el('a', { href: '/graphql', target: '_blank' }, 'GraphiQL');
  const header = el('header', {}, el('h1', {}, `Pulse CRM — ${me.email} (${me.role})`), el('nav', {}, graphiql));
  const sections = {
    kpis: panel('kpis', 'KPIs'),
    status: panel('status', 'System'),
    feeds: panel('feeds', 'Live feeds'),
    segment: panel('segment-customers', 'Customers of a segment', { isWide: true }),
    customer: panel('customer', 'Customer', { isWide: true }),
    campaigns: panel('campaigns', 'Campaigns', { isWide: true }),
    help: panel('help', 'How to use', { isWide: true }),
  };
  app.append(header, el('main', {}, ...Object.values(sections)));

  const kpis = new KpiPanel(sections.kpis, api);
  const segmentCustomers = new SegmentCustomersPanel(sections.segment, api);
  const customer = new CustomerPanel(sections.customer, api);
  const campaigns = new CampaignsPanel(sections.campaigns, api);
  showHelp(sections.help);

  const showView = async (opts: { focus?: boolean }) => {
    const view = readViewState();
    refreshViewLinks(app);
    await Promise.all([
      kpis.show(view),
      segmentCustomers.show(view.segment),
      customer.show(view.customer, opts),
      campaigns.show(view.campaign, opts),
    ]);
  };
  window.addEventListener('hashchange', () => void showView({ focus: true }));
  await Promise.all([showView({}), campaigns.load()]);

  const client = connectLive(wsUrl, api.token!);
  // The tiles, the chart and the segment bars move with every change, without reloading.
  if (kpis.isAvailable)
    listen<{ dashboardLive: DashboardData }>(client, DASHBOARD_LIVE, (d) => kpis.onLive(d.dashboardLive));
  const refreshCampaigns = coalesced(() => campaigns.refresh());
  startFeeds(sections.feeds, client, {
    onSegmentChange: (from, to) => void segmentCustomers.refreshIf([from, to]),
    onInteraction: (customerId) => void customer.refreshIf(customerId),
    onCampaignProgress: () => void refreshCampaigns(),
  });
  startSystemStatus(sections.status, client);
}

signIn();
