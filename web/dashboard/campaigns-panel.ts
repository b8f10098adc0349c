/**
 * The campaigns, newest first, each with its KPIs (the stats the API keeps as it sends: reach,
 * response and conversion rates, attributed revenue), and one campaign in detail: every stat
 * and its recipients, each a link to the customer. Read again when a campaign makes progress.
 */
import { describeFailure, type Answer, type Api, type Money, type PageInfo } from './api.js';
import { alertText, dataTable, definitions, el, hidden } from './dom.js';
import { count, counted, dateTime, money, percent } from './format.js';
import { Pager } from './pager.js';
import { viewLink } from './view-state.js';

const PAGE_SIZE = 10;
const MONEY = '{ amount currency }';

type Stats = {
  targeted: number;
  sent: number;
  delivered: number;
  failed: number;
  responded: number;
  responseRate: number;
  opened: number;
  clicked: number;
  replied: number;
  unsubscribed: number;
  conversions: number;
  conversionRate: number;
  revenue: Money | null;
};

type CampaignRow = {
  id: string;
  code: string;
  name: string;
  status: string;
  targetSegments: string[];
  startedAt: string | null;
  stats: Stats;
};

type CampaignsPage = {
  campaigns: { totalCount: number; pageInfo: PageInfo; edges: Array<{ node: CampaignRow }> };
};

type Delivery = {
  customer: { id: string; code: string; name: string };
  status: string;
  sentAt: string;
  openedAt: string | null;
  clickedAt: string | null;
  repliedAt: string | null;
};

type CampaignDetail = CampaignRow & {
  channel: string;
  completedAt: string | null;
  attributionWindowDays: number;
  failureReason: string | null;
  deliveries: { totalCount: number; pageInfo: PageInfo; edges: Array<{ node: Delivery }> };
};

const STATS = `stats { targeted sent delivered failed responded responseRate opened clicked replied unsubscribed
  conversions conversionRate revenue ${MONEY} }`;
const CAMPAIGNS = `query($first: Int!, $after: String) {
  campaigns(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id code name status targetSegments startedAt ${STATS} } }
  } }`;
const CAMPAIGN = `query($id: ID!, $first: Int!, $after: String) {
  campaign(id: $id) {
    id code name status targetSegments startedAt channel completedAt attributionWindowDays failureReason ${STATS}
    deliveries(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { customer { id code name } status sentAt openedAt clickedAt repliedAt } }
    }
  } }`;

export class CampaignsPanel {
  readonly #list = el('div');
  readonly #listPager = new Pager('Pages of campaigns', (after) => void this.#readList(after));
  readonly #detail = el('section', { 'data-campaign': '', 'aria-labelledby': 'campaign-heading' });
  readonly #detailHeading = el('h3', { id: 'campaign-heading', tabindex: '-1' });
  readonly #detailBody = el('div');
  readonly #recipientsPager = new Pager('Pages of recipients', (after) => void this.#readDetail(after));
  #id: string | null = null;
  #isAvailable = true;

  constructor(
    section: HTMLElement,
    private readonly api: Api,
  ) {
    this.#detail.hidden = true;
    this.#detail.append(this.#detailHeading, this.#detailBody, this.#recipientsPager.element);
    section.append(el('h2', {}, 'Campaigns'), this.#list, this.#listPager.element, this.#detail);
  }

  /** Reads the list's first page. */
  async load(): Promise<void> {
    await this.#readList(null);
  }

  /** Shows one campaign in detail, or none. */
  async show(id: string | null, opts: { focus?: boolean } = {}): Promise<void> {
    if (id === this.#id) return;
    this.#id = id;
    this.#detail.hidden = id === null;
    if (!id) return;
    this.#detailHeading.replaceChildren('Campaign');
    this.#detailBody.replaceChildren();
    this.#recipientsPager.reset();
    await this.#readDetail(null);
    if (opts.focus) this.#detailHeading.focus();
  }

  /** A campaign made progress: the list's page and the detail shown are read again. */
  async refresh(): Promise<void> {
    if (!this.#isAvailable) return;
    await Promise.all([this.#readList(this.#listPager.after), this.#readDetail(this.#recipientsPager.after)]);
  }

  async #readList(after: string | null): Promise<void> {
    try {
      const answer = await this.api.query<CampaignsPage>(CAMPAIGNS, { first: PAGE_SIZE, after });
      const { totalCount, edges, pageInfo } = answer.data.campaigns;
      this.#list.replaceChildren(
        edges.length
          ? dataTable(
              `${counted(totalCount, 'campaign')}, newest first`,
              [
                'Campaign',
                'Name',
                'Status',
                'Segments',
                'Delivered',
                'Response rate',
                'Conversions',
                'Conversion rate',
                'Revenue',
                'Started',
              ],
              edges.map(({ node }, i) => campaignRow(answer, node, i)),
            )
          : el('p', {}, 'No campaigns yet.'),
      );
      this.#listPager.update(pageInfo);
    } catch (err) {
      this.#isAvailable = false;
      this.#list.replaceChildren(alertText(`The campaigns are ${describeFailure(err)}.`));
    }
  }

  async #readDetail(after: string | null): Promise<void> {
    const id = this.#id;
    if (!id) return;
    try {
      const answer = await this.api.query<{ campaign: CampaignDetail | null }>(CAMPAIGN, {
        id,
        first: PAGE_SIZE,
        after,
      });
      if (id !== this.#id) return;
      const c = answer.data.campaign;
      const close = viewLink({ campaign: null }, 'Close');
      if (!c) {
        this.#detailHeading.replaceChildren('Campaign ', close);
        this.#detailBody.replaceChildren(alertText('There is no such campaign.'));
        return;
      }
      this.#detailHeading.replaceChildren(`Campaign ${c.code} · ${c.name} `, close);
      this.#detailBody.replaceChildren(campaignStats(answer, c), recipients(c));
      this.#recipientsPager.update(c.deliveries.pageInfo);
    } catch (err) {
      this.#detailBody.replaceChildren(alertText(`The campaign is ${describeFailure(err)}.`));
    }
  }
}

function revenueOf(answer: Answer<unknown>, stats: Stats, ...path: Array<string | number>): Node | string {
  if (stats.revenue) return money(stats.revenue);
  return answer.isDenied(...path, 'stats', 'revenue') ? hidden() : '—';
}

function campaignRow(answer: Answer<CampaignsPage>, c: CampaignRow, i: number): Array<Node | string> {
  return [
    viewLink({ campaign: c.id }, c.code),
    c.name,
    c.status,
    c.targetSegments.join(', '),
    `${count(c.stats.delivered)} of ${count(c.stats.targeted)}`,
    percent(c.stats.responseRate),
    count(c.stats.conversions),
    percent(c.stats.conversionRate),
    revenueOf(answer, c.stats, 'campaigns', 'edges', i, 'node'),
    c.startedAt ? dateTime(c.startedAt) : '—',
  ];
}

function campaignStats(answer: Answer<{ campaign: CampaignDetail | null }>, c: CampaignDetail): HTMLElement {
  const s = c.stats;
  return definitions(
    [
      ['Status', c.failureReason ? `${c.status}: ${c.failureReason}` : c.status],
      ['Channel', c.channel],
      ['Segments', c.targetSegments.join(', ')],
      ['Started', c.startedAt ? dateTime(c.startedAt) : '—'],
      ['Ended', c.completedAt ? dateTime(c.completedAt) : '—'],
      ['Targeted', count(s.targeted)],
      ['Delivered', `${count(s.delivered)} (${count(s.failed)} failed)`],
      ['Responded', `${count(s.responded)} (${percent(s.responseRate)})`],
      [
        'Responses',
        `${count(s.opened)} opened, ${count(s.clicked)} clicked, ${count(s.replied)} replied, ${count(s.unsubscribed)} unsubscribed`,
      ],
      ['Conversions', `${count(s.conversions)} (${percent(s.conversionRate)})`],
      ['Attributed revenue', revenueOf(answer, s, 'campaign')],
      ['Attribution window', `${count(c.attributionWindowDays)} days`],
    ],
    { class: 'stats' },
  );
}

function recipients(c: CampaignDetail): HTMLElement {
  const when = (iso: string | null) => (iso ? dateTime(iso) : '—');
  return dataTable(
    `Recipients: ${count(c.deliveries.totalCount)}`,
    ['Customer', 'Name', 'Delivery', 'Sent', 'Opened', 'Clicked', 'Replied'],
    c.deliveries.edges.map(({ node: d }) => [
      viewLink({ customer: d.customer.id }, d.customer.code),
      d.customer.name,
      d.status,
      when(d.sentAt),
      when(d.openedAt),
      when(d.clickedAt),
      when(d.repliedAt),
    ]),
  );
}
