/**
 * One customer: the profile, the insights (value, churn risk, RFM, next best actions), the
 * segment history and the timeline, a page at a time. What the viewer's role may not read
 * (insights and amounts for SUPPORT) is marked hidden; an ANALYST sees what the API sends, masked.
 */
import { describeFailure, type Answer, type Api, type Money, type PageInfo, type Segment } from './api.js';
import { alertText, dataTable, definitions, el, hidden } from './dom.js';
import { count, counted, dateTime, money, percent } from './format.js';
import { Pager } from './pager.js';
import { viewLink } from './view-state.js';

const PAGE_SIZE = 20;

type Insights = {
  lifetimeValue: Money;
  historicalValue: Money;
  predictedValue: Money;
  churnRisk: number;
  daysSinceLastInteraction: number;
  interactionCount: number;
  rfm: { recency: number; frequency: number; monetary: number; code: string };
  nextBestActions: Array<{ action: string; reason: string }>;
};

type TimelineEntry = {
  id: string;
  type: string;
  channel: string;
  description: string | null;
  occurredAt: string;
  amount: Money | null;
};

type CustomerDetail = {
  id: string;
  code: string;
  name: string;
  email: string | null;
  phone: string | null;
  segment: Segment;
  tags: string[];
  joinedAt: string;
  lastInteractionAt: string | null;
  unsubscribedAt: string | null;
  erasedAt: string | null;
  totalPurchases: Money | null;
  purchaseCount: number | null;
  averagePurchase: Money | null;
  insights: Insights | null;
  segmentHistory: Array<{ from: Segment | null; to: Segment; changedAt: string; reason: string }>;
  interactions: { totalCount: number; pageInfo: PageInfo; edges: Array<{ node: TimelineEntry }> };
};

type CustomerAnswer = Answer<{ customer: CustomerDetail | null }>;

const MONEY = '{ amount currency }';
const CUSTOMER = `query($id: ID!, $first: Int!, $after: String) {
  customer(id: $id) {
    id code name email phone segment tags joinedAt lastInteractionAt unsubscribedAt erasedAt
    totalPurchases ${MONEY} purchaseCount averagePurchase ${MONEY}
    insights {
      lifetimeValue ${MONEY} historicalValue ${MONEY} predictedValue ${MONEY}
      churnRisk daysSinceLastInteraction interactionCount
      rfm { recency frequency monetary code }
      nextBestActions { action reason }
    }
    segmentHistory(first: 10) { from to changedAt reason }
    interactions(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id type channel description occurredAt amount ${MONEY} } }
    }
  } }`;

export class CustomerPanel {
  readonly #heading = el('h2', { tabindex: '-1' });
  readonly #body = el('div');
  readonly #pager = new Pager('Pages of the timeline', (after) => void this.#read(after));
  #id: string | null = null;

  constructor(
    private readonly section: HTMLElement,
    private readonly api: Api,
  ) {
    section.hidden = true;
    section.append(this.#heading, this.#body, this.#pager.element);
  }

  /** Shows a customer (the timeline's first page), or hides the panel (null). */
  async show(id: string | null, opts: { focus?: boolean } = {}): Promise<void> {
    if (id === this.#id) return;
    this.#id = id;
    this.section.hidden = id === null;
    if (!id) return;
    this.#heading.replaceChildren('Customer');
    this.#body.replaceChildren();
    this.#pager.reset();
    await this.#read(null);
    if (opts.focus) this.#heading.focus();
  }

  /** Reads the shown customer again (the same page) when something happened to them. */
  async refreshIf(customerId: string): Promise<void> {
    if (customerId === this.#id) await this.#read(this.#pager.after);
  }

  async #read(after: string | null): Promise<void> {
    const id = this.#id;
    if (!id) return;
    try {
      const answer = await this.api.query<{ customer: CustomerDetail | null }>(CUSTOMER, {
        id,
        first: PAGE_SIZE,
        after,
      });
      if (id !== this.#id) return;
      const c = answer.data.customer;
      if (!c) {
        this.#heading.replaceChildren('Customer ', viewLink({ customer: null }, 'Close'));
        this.#body.replaceChildren(alertText('There is no such customer.'));
        return;
      }
      this.#heading.replaceChildren(`Customer ${c.code} · ${c.name} `, viewLink({ customer: null }, 'Close'));
      this.#body.replaceChildren(
        el('div', { class: 'columns' }, profile(answer, c), insights(answer, c)),
        segmentHistory(c),
        timeline(answer, c),
      );
      this.#pager.update(c.interactions.pageInfo);
    } catch (err) {
      this.#body.replaceChildren(alertText(`The customer is ${describeFailure(err)}.`));
    }
  }
}

function moneyOrHidden(answer: CustomerAnswer, value: Money | null, ...path: Array<string | number>) {
  if (value) return money(value);
  return answer.isDenied('customer', ...path) ? hidden() : '—';
}

function profile(answer: CustomerAnswer, c: CustomerDetail): HTMLElement {
  const purchases =
    c.purchaseCount !== null ? count(c.purchaseCount) : answer.isDenied('customer', 'purchaseCount') ? hidden() : '—';
  return el(
    'section',
    { 'data-customer': 'profile', 'aria-label': 'Profile' },
    el('h3', {}, 'Profile'),
    definitions([
      ['E-mail', c.email ?? (answer.isDenied('customer', 'email') ? hidden() : '—')],
      ['Phone', c.phone ?? (answer.isDenied('customer', 'phone') ? hidden() : '—')],
      ['Segment', viewLink({ segment: c.segment }, c.segment)],
      ['Tags', c.tags.join(', ') || '—'],
      ['Joined', dateTime(c.joinedAt)],
      ['Last interaction', c.lastInteractionAt ? dateTime(c.lastInteractionAt) : '—'],
      ['Total purchases', moneyOrHidden(answer, c.totalPurchases, 'totalPurchases')],
      ['Purchases', purchases],
      ['Average purchase', moneyOrHidden(answer, c.averagePurchase, 'averagePurchase')],
      ...(c.unsubscribedAt ? [['Unsubscribed', dateTime(c.unsubscribedAt)] as [string, string]] : []),
      ...(c.erasedAt ? [['Erased', dateTime(c.erasedAt)] as [string, string]] : []),
    ]),
  );
}

function insights(answer: CustomerAnswer, c: CustomerDetail): HTMLElement {
  const section = el('section', { 'data-customer': 'insights', 'aria-label': 'Insights' }, el('h3', {}, 'Insights'));
  const i = c.insights;
  if (!i) {
    section.append(
      answer.isDenied('customer', 'insights')
        ? alertText('Insights are not available to your role (FORBIDDEN).')
        : el('p', {}, 'No insights.'),
    );
    return section;
  }
  section.append(
    definitions([
      ['Lifetime value', money(i.lifetimeValue)],
      ['Spent so far', money(i.historicalValue)],
      ['Predicted', money(i.predictedValue)],
      ['Churn risk', percent(i.churnRisk)],
      ['Days since last interaction', count(i.daysSinceLastInteraction)],
      ['Interactions', count(i.interactionCount)],
      ['RFM', `${i.rfm.code} (recency ${i.rfm.recency}, frequency ${i.rfm.frequency}, monetary ${i.rfm.monetary})`],
    ]),
    el('h4', {}, 'Next best actions'),
    i.nextBestActions.length
      ? el('ul', {}, ...i.nextBestActions.map((a) => el('li', {}, el('strong', {}, a.action), ` — ${a.reason}`)))
      : el('p', {}, 'None.'),
  );
  return section;
}

function segmentHistory(c: CustomerDetail): HTMLElement {
  return dataTable(
    'Segment history, newest first',
    ['When', 'From', 'To', 'Why'],
    c.segmentHistory.map((h) => [dateTime(h.changedAt), h.from ?? '—', h.to, h.reason]),
  );
}

function timeline(answer: CustomerAnswer, c: CustomerDetail): HTMLElement {
  const table = dataTable(
    `Timeline, newest first: ${counted(c.interactions.totalCount, 'interaction')}`,
    ['When', 'Type', 'Channel', 'Description', 'Amount'],
    c.interactions.edges.map(({ node }, i) => [
      dateTime(node.occurredAt),
      node.type,
      node.channel,
      node.description ?? '—',
      moneyOrHidden(answer, node.amount, 'interactions', 'edges', i, 'node', 'amount'),
    ]),
  );
  table.setAttribute('data-timeline', '');
  return table;
}
