/**
 * The KPIs of the last 30 days: tiles, the revenue chart and the segment bars, for the whole
 * business or one slice of it (a channel or a segment, chosen in the selectors or by a segment's
 * link). The whole view moves with `dashboardLive`; a slice, which that subscription does not
 * carry, is read again over HTTP on each of its updates.
 */
import uPlot from 'uplot';
import { CHANNELS, SEGMENTS, describeFailure, type Api, type Channel, type Money, type Segment } from './api.js';
import { alertText, el } from './dom.js';
import { compactMoney, count, day, money, percent } from './format.js';
import { coalesced } from './live.js';
import { hrefFor, viewLink } from './view-state.js';

type Point<T> = { start: string; value: T };
export type DashboardData = {
  revenue: { total: Money; series: Array<Point<Money>> };
  purchases: { total: number };
  averageOrderValue: { total: Money };
  newCustomers: { total: number };
  complaintRate: { total: number };
  churnRate: { total: number };
  campaigns: { responseRate: number; conversionRate: number };
  segmentDistribution: Array<{ segment: Segment; count: number }>;
};

export type Slice = { channel: Channel | null; segment: Segment | null };

export const DASHBOARD_FIELDS = `
    revenue { total { amount currency } series { start value { amount currency } } }
    purchases { total } averageOrderValue { total { amount currency } } newCustomers { total }
    complaintRate { total } churnRate { total } campaigns { responseRate conversionRate }
    segmentDistribution { segment count }`;
export const DASHBOARD = `query($from: DateTime!, $to: DateTime!, $filter: DashboardFilter) {
  dashboard(from: $from, to: $to, filter: $filter) {${DASHBOARD_FIELDS}
  } }`;

/** The tiles: key, label, the value shown, and whether a slice applies to it. */
const TILES: Array<{
  key: string;
  label: string;
  value: (d: DashboardData) => string;
  slicedBy: Array<keyof Slice>;
}> = [
  { key: 'revenue', label: 'Revenue', value: (d) => money(d.revenue.total), slicedBy: ['channel', 'segment'] },
  { key: 'purchases', label: 'Purchases', value: (d) => count(d.purchases.total), slicedBy: ['channel', 'segment'] },
  {
    key: 'aov',
    label: 'Average order',
    value: (d) => money(d.averageOrderValue.total),
    slicedBy: ['channel', 'segment'],
  },
  // New customers have no channel: they are counted per segment (the one they joined in) only.
  { key: 'new-customers', label: 'New customers', value: (d) => count(d.newCustomers.total), slicedBy: ['segment'] },
  {
    key: 'complaint-rate',
    label: 'Complaint rate',
    value: (d) => percent(d.complaintRate.total),
    slicedBy: ['channel', 'segment'],
  },
  { key: 'churn-rate', label: 'Churn rate', value: (d) => percent(d.churnRate.total), slicedBy: [] },
  {
    key: 'response-rate',
    label: 'Campaign response rate',
    value: (d) => percent(d.campaigns.responseRate),
    slicedBy: [],
  },
  {
    key: 'conversion-rate',
    label: 'Campaign conversion rate',
    value: (d) => percent(d.campaigns.conversionRate),
    slicedBy: [],
  },
];

function sliceName(slice: Slice): string {
  if (slice.channel) return `channel ${slice.channel}`;
  if (slice.segment) return `segment ${slice.segment}`;
  return '';
}

function revenueSeries(data: DashboardData): [number[], number[]] {
  return [
    data.revenue.series.map((p) => Date.parse(p.start) / 1000),
    data.revenue.series.map((p) => Number(p.value.amount)),
  ];
}

export class KpiPanel {
  /** False once the dashboard was refused (a role it is not for): nothing live to listen to. */
  isAvailable = true;
  readonly #heading = el('h2', {}, 'Last 30 days');
  readonly #channel = el('select', { name: 'channel', id: 'slice-channel' });
  readonly #segment = el('select', { name: 'segment', id: 'slice-segment' });
  readonly #tiles = el('div', { class: 'tiles' });
  readonly #note = el('p', { class: 'note' });
  readonly #chart = el('div', { 'data-chart': 'revenue' });
  readonly #segments = el('ul', { class: 'segments', 'aria-label': 'Customers per segment now' });
  readonly #values = new Map<string, HTMLElement>();
  readonly #segmentRows = new Map<Segment, { name: HTMLAnchorElement; count: HTMLElement; bar: HTMLElement }>();
  #plot: uPlot | null = null;
  #slice: Slice = { channel: null, segment: null };
  #hasLoaded = false;

  constructor(
    private readonly section: HTMLElement,
    private readonly api: Api,
  ) {
    this.#channel.append(el('option', { value: '' }, 'All channels'), ...CHANNELS.map((c) => el('option', {}, c)));
    this.#segment.append(el('option', { value: '' }, 'All segments'), ...SEGMENTS.map((s) => el('option', {}, s)));
    // The options are the API's enum values: the hash is read back through readViewState.
    this.#channel.addEventListener('change', () => {
      location.hash = hrefFor({ channel: (this.#channel.value || null) as Channel | null });
    });
    this.#segment.addEventListener('change', () => {
      location.hash = hrefFor({ segment: (this.#segment.value || null) as Segment | null });
    });
    const selectors = el(
      'div',
      { class: 'selectors', role: 'group', 'aria-label': 'Slice the KPIs' },
      el('label', { for: 'slice-channel' }, 'Channel'),
      this.#channel,
      el('label', { for: 'slice-segment' }, 'Segment'),
      this.#segment,
    );
    for (const t of TILES) {
      const value = el('div', { class: 'value' });
      this.#tiles.append(
        el('div', { class: 'tile', 'data-kpi': t.key }, el('div', { class: 'label' }, t.label), value),
      );
      this.#values.set(t.key, value);
    }
    section.append(this.#heading, selectors, this.#tiles, this.#note, el('h2', {}, 'Revenue per day'), this.#chart);
    section.append(el('h2', {}, 'Segments now'), this.#segments);
  }

  /** Shows the slice (reading the dashboard when it changed). */
  async show(slice: Slice): Promise<void> {
    if (!this.isAvailable) return;
    if (this.#hasLoaded && slice.channel === this.#slice.channel && slice.segment === this.#slice.segment) return;
    this.#slice = slice;
    this.#channel.value = slice.channel ?? '';
    this.#segment.value = slice.segment ?? '';
    const name = sliceName(slice);
    this.#heading.textContent = name ? `Last 30 days · ${name}` : 'Last 30 days';
    await this.#read();
  }

  /** A new value of `dashboardLive` (the whole business). */
  onLive(data: DashboardData): void {
    if (this.#slice.channel || this.#slice.segment) {
      this.#renderSegments(data);
      void this.#read();
    } else this.#render(data);
  }

  /** Reads the dashboard of the current slice (once more after it when asked meanwhile). */
  readonly #read = coalesced(async () => {
    const slice = this.#slice;
    const to = new Date();
    const from = new Date(to.getTime() - 29 * 86_400_000);
    const filter = slice.channel ? { channel: slice.channel } : slice.segment ? { segment: slice.segment } : null;
    try {
      const answer = await this.api.query<{ dashboard: DashboardData }>(DASHBOARD, {
        from: from.toISOString(),
        to: to.toISOString(),
        filter,
      });
      // A slice chosen meanwhile is read next: this answer is for the one before.
      if (slice === this.#slice) this.#render(answer.data.dashboard);
    } catch (err) {
      this.isAvailable = false;
      this.section.replaceChildren(
        el('h2', {}, 'Last 30 days'),
        alertText(`The dashboard is ${describeFailure(err)}.`),
      );
    }
  });

  #render(data: DashboardData): void {
    const slice = this.#slice;
    const unsliced: string[] = [];
    for (const t of TILES) {
      const isSliced = !(slice.channel || slice.segment) || t.slicedBy.some((k) => slice[k]);
      const value = this.#values.get(t.key)!;
      const tile = value.parentElement!;
      tile.classList.toggle('unsliced', !isSliced);
      if (!isSliced) unsliced.push(t.label.toLowerCase());
      // A count the slice does not keep would read as a false zero.
      value.textContent = !isSliced && t.key === 'new-customers' ? '—' : t.value(data);
    }
    this.#note.textContent = unsliced.length
      ? `Not sliced by ${slice.channel ? 'channel' : 'segment'} (shown dimmed, for the whole business): ${unsliced.join(', ')}.`
      : '';
    this.#renderChart(data);
    this.#renderSegments(data);
    this.#hasLoaded = true;
  }

  #renderChart(data: DashboardData): void {
    if (this.#plot) {
      this.#plot.setData(revenueSeries(data));
      return;
    }
    const { currency } = data.revenue.total;
    this.#plot = new uPlot(
      {
        width: Math.max(300, this.#chart.clientWidth),
        height: 180,
        axes: [{}, { size: 60, values: (_u, splits) => splits.map((v) => compactMoney(v, currency)) }],
        series: [
          { value: (_u, v) => (v == null ? '—' : day(new Date(v * 1000).toISOString())) },
          {
            label: 'Revenue',
            stroke: '#4f7cff',
            fill: 'rgba(79,124,255,0.15)',
            value: (_u, v) => (v == null ? '—' : money({ amount: String(v), currency })),
          },
        ],
      },
      revenueSeries(data),
      this.#chart,
    );
  }

  #renderSegments(data: DashboardData): void {
    const max = Math.max(1, ...data.segmentDistribution.map((s) => s.count));
    for (const s of data.segmentDistribution) {
      let row = this.#segmentRows.get(s.segment);
      if (!row) {
        row = {
          name: viewLink({ segment: s.segment }, s.segment),
          count: el('span'),
          bar: el('div', { class: 'bar' }),
        };
        this.#segments.append(el('li', { 'data-segment': s.segment }, el('span', {}, row.name, row.count), row.bar));
        this.#segmentRows.set(s.segment, row);
      }
      row.count.textContent = `: ${count(s.count)}`;
      row.bar.style.width = `${Math.max(2, (s.count / max) * 100)}%`;
      if (this.#slice.segment === s.segment) row.name.setAttribute('aria-current', 'true');
      else row.name.removeAttribute('aria-current');
    }
  }
}
