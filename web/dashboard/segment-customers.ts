/**
 * A segment's customers, a page at a time (the `customers` connection, newest first), each a
 * link to the customer's timeline and insights. An ANALYST gets e-mail and phone masked by the
 * API; a role that may not read purchase totals sees them marked hidden.
 */
import { describeFailure, type Answer, type Api, type Money, type PageInfo, type Segment } from './api.js';
import { alertText, dataTable, el, hidden } from './dom.js';
import { count, counted, day, money } from './format.js';
import { coalesced } from './live.js';
import { Pager } from './pager.js';
import { viewLink } from './view-state.js';

const PAGE_SIZE = 20;

type CustomerRow = {
  id: string;
  code: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  totalPurchases: Money | null;
  purchaseCount: number | null;
  lastInteractionAt: string | null;
  joinedAt: string;
};

type CustomersPage = {
  customers: { totalCount: number; pageInfo: PageInfo; edges: Array<{ node: CustomerRow }> };
};

const SEGMENT_CUSTOMERS = `query($segment: Segment!, $first: Int!, $after: String) {
  customers(filter: { segments: [$segment] }, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id code name email phone totalPurchases { amount currency } purchaseCount lastInteractionAt joinedAt } }
  } }`;

export class SegmentCustomersPanel {
  readonly #heading = el('h2', { tabindex: '-1' });
  readonly #body = el('div');
  readonly #pager = new Pager('Pages of the segment', (after) => void this.#read(after));
  #segment: Segment | null = null;
  /** The page shown, read again; moves arriving meanwhile make one more read, not one each. */
  readonly #reread = coalesced(() => this.#read(this.#pager.after));

  constructor(
    private readonly section: HTMLElement,
    private readonly api: Api,
  ) {
    section.hidden = true;
    section.append(this.#heading, this.#body, this.#pager.element);
  }

  /** Shows the segment's first page, or hides the panel (null). */
  async show(segment: Segment | null): Promise<void> {
    if (segment === this.#segment) return;
    this.#segment = segment;
    this.section.hidden = segment === null;
    if (!segment) return;
    this.#heading.replaceChildren(`Customers in ${segment} `, viewLink({ segment: null }, 'Close'));
    this.#pager.reset();
    await this.#read(null);
  }

  /** A customer moved between these segments: the page shown is read again if it is one of them. */
  async refreshIf(segments: Array<Segment | null>): Promise<void> {
    if (this.#segment && segments.includes(this.#segment)) await this.#reread();
  }

  async #read(after: string | null): Promise<void> {
    const segment = this.#segment;
    if (!segment) return;
    try {
      const answer = await this.api.query<CustomersPage>(SEGMENT_CUSTOMERS, { segment, first: PAGE_SIZE, after });
      if (segment !== this.#segment) return;
      const { totalCount, edges, pageInfo } = answer.data.customers;
      const caption = `${counted(totalCount, 'customer')} in ${segment}`;
      this.#body.replaceChildren(
        dataTable(
          caption,
          ['Customer', 'Name', 'E-mail', 'Phone', 'Total purchases', 'Purchases', 'Last interaction', 'Joined'],
          edges.map(({ node }, i) => customerRow(answer, node, i)),
        ),
      );
      this.#pager.update(pageInfo);
    } catch (err) {
      this.#body.replaceChildren(alertText(`The customers are ${describeFailure(err)}.`));
    }
  }
}

function customerRow(answer: Answer<CustomersPage>, c: CustomerRow, i: number): Array<Node | string> {
  const denied = (field: string) => answer.isDenied('customers', 'edges', i, 'node', field);
  return [
    viewLink({ customer: c.id }, c.code),
    c.name ?? (denied('name') ? hidden() : ''),
    c.email ?? (denied('email') ? hidden() : '—'),
    c.phone ?? (denied('phone') ? hidden() : '—'),
    c.totalPurchases ? money(c.totalPurchases) : denied('totalPurchases') ? hidden() : '—',
    c.purchaseCount !== null ? count(c.purchaseCount) : denied('purchaseCount') ? hidden() : '—',
    c.lastInteractionAt ? day(c.lastInteractionAt) : '—',
    day(c.joinedAt),
  ];
}
