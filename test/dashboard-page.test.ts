/**
 * The operator dashboard at `/` in a real headless Chromium, over demo data seeded through the
 * API: the KPIs the API computes, a tile moving live when a purchase is recorded, each
 * drill-down (a channel's and a segment's KPIs, the campaigns with their KPIs, a segment's
 * customers page by page, a customer's timeline and insights), and the roles (ANALYST masked,
 * SUPPORT refused what it may not read). Served from local files only. Screenshots go to
 * test/artifacts/.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../src/shared/paths.js';
import { campaignMutation, createCampaign, settled, type CampaignView } from './helpers/campaigns.js';
import { launchChromium } from './helpers/chromium.js';
import { createCustomer, recordInteraction, recordPurchase, type CustomerView } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { startTestServer, TEST_AUTH_ENV, type TestServer } from './helpers/server.js';

const ARTIFACTS = path.join(projectRoot, 'test', 'artifacts');
const NEWCOMERS = 21;

type Kpis = {
  revenue: { total: { amount: string; currency: string } };
  purchases: { total: number };
  interactions: { total: number };
  complaintRate: { total: number };
};

describe('operator dashboard', () => {
  let t: TestServer;
  let browser: Browser;
  const foreignRequests: string[] = [];
  const openPages = new Set<Page>();
  /** Per page: subscriptions it started, and those the server ended or refused. */
  const subscriptions = new WeakMap<Page, { started: number; ended: number }>();
  let minji: CustomerView;
  let jun: CustomerView;
  let campaign: CampaignView;

  /**
   * The demo: newcomers, a VIP with purchases in a store and online, a campaign to the VIPs that
   * she opened, then a purchase of Lee Jun's and her complaint, recorded last on purpose: once the
   * dashboard counts them, the analytics consumer (which counts in log order) counted it all.
   */
  async function seedDemo(): Promise<void> {
    minji = await createCustomer(t, { name: 'Kim Minji', email: 'minji@example.com', phone: '+821012345678' });
    jun = await createCustomer(t, { name: 'Lee Jun' });
    for (let i = 1; i <= NEWCOMERS; i++) await createCustomer(t, { name: `Newcomer ${String(i).padStart(2, '0')}` });
    await recordPurchase(t, { customerId: minji.id, amount: '600000', channel: 'STORE' });
    await recordPurchase(t, { customerId: minji.id, amount: '500000', channel: 'WEB' });
    campaign = await createCampaign(t, {
      name: 'VIP thank-you',
      targetSegments: ['VIP'],
      message: 'Thank you, {{name}}',
    });
    await campaignMutation(t, 'executeCampaign', { id: campaign.id });
    await settled(t, campaign.id);
    const opened = await t.graphql(
      'mutation($input: RecordCampaignResponseInput!) { recordCampaignResponse(input: $input) { recorded } }',
      { input: { campaignId: campaign.id, customerId: minji.id, kind: 'OPENED' } },
    );
    expect(opened.body.errors).toBeUndefined();
    await recordPurchase(t, { customerId: jun.id, amount: '30000', channel: 'APP' });
    await recordInteraction(t, {
      customerId: minji.id,
      type: 'COMPLAINT',
      channel: 'PHONE',
      description: 'late delivery',
    });
  }

  beforeAll(async () => {
    t = await startTestServer({ env: { AUTOMATION_POLL_MS: '30', CAMPAIGN_POLL_MS: '50' } });
    browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
    await seedDemo();
    // A fact, not a pause: the dashboard counts the last facts recorded (see seedDemo).
    await eventually(
      () => dashboard(),
      (d) => d.purchases.total === 3 && d.interactions.total === 4,
    );
  }, 600_000);

  afterEach(async () => {
    for (const page of openPages) {
      await page.goto('about:blank'); // leaving closes the page's WebSocket cleanly
      await page.close();
    }
    openPages.clear();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  async function dashboard(filter?: Record<string, string>): Promise<Kpis> {
    const to = new Date();
    const from = new Date(to.getTime() - 29 * 86_400_000);
    const res = await t.graphql<{ dashboard: Kpis }>(
      `query($f: DateTime!, $t: DateTime!, $filter: DashboardFilter) { dashboard(from: $f, to: $t, filter: $filter) {
        revenue { total { amount currency } } purchases { total } interactions { total } complaintRate { total } } }`,
      { f: from.toISOString(), t: to.toISOString(), filter },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.dashboard;
  }

  async function activeSubscriptions(): Promise<number> {
    const res = await t.graphql<{ systemStatus: { activeSubscriptions: number } }>(
      '{ systemStatus { activeSubscriptions } }',
    );
    return res.body.data!.systemStatus.activeSubscriptions;
  }

  /** Counts the graphql-ws subscriptions the page starts, and those that end, from its frames. */
  function watchSubscriptions(page: Page): void {
    const count = { started: 0, ended: 0 };
    subscriptions.set(page, count);
    const typeOf = (payload: string | Buffer) => {
      try {
        return (JSON.parse(payload.toString()) as { type?: string }).type;
      } catch {
        return undefined;
      }
    };
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => {
        if (typeOf(f.payload) === 'subscribe') count.started++;
      });
      ws.on('framereceived', (f) => {
        if (['error', 'complete'].includes(typeOf(f.payload) ?? '')) count.ended++;
      });
    });
  }

  /**
   * Resolves once the server runs every subscription the page started: from then on, whatever
   * is recorded reaches the page. (Only one page is open at a time; signIn waits for the others
   * to be gone.)
   */
  async function pageIsLive(page: Page): Promise<void> {
    const count = subscriptions.get(page)!;
    await eventually(
      async () => ({ running: await activeSubscriptions(), expected: count.started - count.ended }),
      ({ running, expected }) => expected > 0 && running === expected,
    );
  }

  /** Opens the page (at `hash`, a linked view) and signs in; waits for the signed-in header. */
  async function signIn(email: string, password: string, hash = ''): Promise<Page> {
    await eventually(activeSubscriptions, (n) => n === 0); // the pages of earlier tests are gone
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    openPages.add(page);
    watchSubscriptions(page);
    const origin = new URL(t.baseUrl).host;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.host !== origin) foreignRequests.push(req.url());
    });
    const res = await page.goto(`${t.baseUrl}/${hash}`);
    expect(res?.status()).toBe(200);
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('header h1', { hasText: email }).waitFor();
    return page;
  }

  const signInAsAdmin = (hash = '') => signIn(TEST_AUTH_ENV.CRM_ADMIN_EMAIL, TEST_AUTH_ENV.CRM_ADMIN_PASSWORD, hash);

  /** A number as the page's locale writes it (the browser's, not this process's). */
  function inPageLocale(page: Page, value: number, options: Intl.NumberFormatOptions): Promise<string> {
    return page.evaluate(
      ([v, o]) =>
        new Intl.NumberFormat(
          (globalThis as unknown as { navigator: { language: string } }).navigator.language,
          o,
        ).format(v),
      [value, options] as const,
    );
  }

  const moneyIn = (page: Page, m: { amount: string; currency: string }) =>
    inPageLocale(page, Number(m.amount), { style: 'currency', currency: m.currency });
  const percentIn = (page: Page, x: number) =>
    inPageLocale(page, x, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });

  /** The tiles show these KPIs of the API. */
  async function expectTiles(page: Page, kpis: Kpis): Promise<void> {
    const revenue = await moneyIn(page, kpis.revenue.total);
    await page.locator('[data-kpi=revenue] .value', { hasText: revenue }).waitFor();
    await page.locator('[data-kpi=purchases] .value', { hasText: new RegExp(`^${kpis.purchases.total}$`) }).waitFor();
    const complaints = await percentIn(page, kpis.complaintRate.total);
    await expect(page.locator('[data-kpi=complaint-rate] .value').innerText()).resolves.toBe(complaints);
  }

  it('shows the demo data: the KPIs the API computes, grouped money, a rendered chart, the segments (ADMIN)', async () => {
    const page = await signInAsAdmin();
    const kpis = await dashboard();
    expect(kpis.revenue.total.amount).toBe('1130000');
    await expectTiles(page, kpis);
    // Money as the viewer's locale writes it in the deployment currency (₩1,130,000 in en-US).
    await expect(page.locator('[data-kpi=revenue] .value').innerText()).resolves.toMatch(
      /1,130,000|1\.130\.000|1 130 000/,
    );
    const box = await page.locator('[data-chart=revenue] canvas').boundingBox();
    expect(box!.width).toBeGreaterThan(100);
    await expect(page.locator('[data-segment=VIP]').innerText()).resolves.toMatch(/VIP: 1/);
    await expect(page.locator('[data-segment=NEW]').innerText()).resolves.toMatch(new RegExp(`NEW: ${NEWCOMERS + 1}`));
    await page.locator('[data-status] dd').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-admin.png'), fullPage: true });
    expect(foreignRequests).toEqual([]);
  });

  it('moves the Purchases tile, the segment bars and the feeds live when a purchase is recorded', async () => {
    const page = await signInAsAdmin();
    await page.locator('[data-kpi=purchases] .value', { hasText: /^3$/ }).waitFor();
    const vip = await createCustomer(t, { name: 'Park Live', email: 'park.live@example.com' });
    await pageIsLive(page);
    // From the mutation's answer to the line on the page: at most a second.
    await recordPurchase(t, { customerId: vip.id, amount: '1000000' });
    const answered = Date.now();
    const line = page.locator('[data-feed=segments] li', { hasText: 'NEW → VIP' });
    await line.waitFor({ timeout: 1_000 });
    expect(Date.now() - answered).toBeLessThan(1_000);
    await expect(line.innerText()).resolves.toContain('park.live@example.com');
    // The tiles and the segment bars move too, without reloading: a fourth purchase, a second VIP.
    await page.locator('[data-kpi=purchases] .value', { hasText: /^4$/ }).waitFor({ timeout: 10_000 });
    await page.locator('[data-segment=VIP]', { hasText: /VIP: 2/ }).waitFor({ timeout: 10_000 });
    await expectTiles(page, await dashboard());
  });

  it('slices the KPIs by channel and by segment, live, and keeps the slice in the address', async () => {
    const page = await signInAsAdmin();
    await page.getByLabel('Channel', { exact: true }).selectOption('STORE');
    await page.waitForURL(/#channel=STORE$/);
    await page.getByRole('heading', { name: 'Last 30 days · channel STORE' }).waitFor();
    const store = await dashboard({ channel: 'STORE' });
    expect(store.revenue.total.amount).toBe('600000');
    await expectTiles(page, store);
    // What a channel does not slice is said, and a count it does not keep is not shown as 0.
    await expect(page.locator('[data-section=kpis] .note').innerText()).resolves.toMatch(/Not sliced by channel/);
    await expect(page.locator('[data-kpi=new-customers] .value').innerText()).resolves.toBe('—');

    // Live within the slice: a purchase in a store moves the store's tiles.
    await pageIsLive(page);
    await recordPurchase(t, { customerId: jun.id, amount: '20000', channel: 'STORE' });
    await page.locator('[data-kpi=purchases] .value', { hasText: /^2$/ }).waitFor({ timeout: 10_000 });
    await expectTiles(page, await dashboard({ channel: 'STORE' }));

    await page.getByLabel('Segment', { exact: true }).selectOption('VIP');
    await page.waitForURL(/#segment=VIP$/);
    await page.getByRole('heading', { name: 'Last 30 days · segment VIP' }).waitFor();
    await expect(page.getByLabel('Channel', { exact: true }).inputValue()).resolves.toBe('');
    await expectTiles(page, await dashboard({ segment: 'VIP' }));
  });

  it("lists a segment's customers a page at a time, from a linked view", async () => {
    const page = await signInAsAdmin('#segment=NEW');
    const table = page.getByRole('table', { name: /customers in NEW/ });
    const total = NEWCOMERS + 1; // and Lee Jun
    await expect(table.locator('caption').innerText()).resolves.toBe(`${total} customers in NEW`);
    await eventually(
      () => table.locator('tbody tr').count(),
      (n) => n === 20,
    );
    const pages = page.getByRole('navigation', { name: 'Pages of the segment' });
    await pages.getByRole('button', { name: 'Next page' }).click();
    await pages.getByText('Page 2').waitFor();
    // Newest first: the first customers to join are on the last page.
    await table.getByRole('rowheader', { name: jun.code }).waitFor();
    await eventually(
      () => table.locator('tbody tr').count(),
      (n) => n === total - 20,
    );
    await expect(pages.getByRole('button', { name: 'Next page' }).isDisabled()).resolves.toBe(true);
    await pages.getByRole('button', { name: 'Previous page' }).click();
    await pages.getByText('Page 1').waitFor();
    await table.locator('tbody tr', { hasText: `Newcomer ${NEWCOMERS}` }).waitFor();
  });

  it('opens a customer from their segment: profile, insights and timeline, moving live', async () => {
    const page = await signInAsAdmin();
    await page.locator('[data-segment=VIP]').getByRole('link', { name: 'VIP' }).click();
    const vips = page.getByRole('table', { name: /customers in VIP/ });
    await vips.getByRole('link', { name: minji.code }).click();
    await page.waitForURL(new RegExp(`#segment=VIP&customer=${encodeURIComponent(minji.id)}$`));
    const panel = page.locator('[data-section=customer]');
    await panel.getByRole('heading', { name: `Customer ${minji.code} · Kim Minji` }).waitFor();
    // The heading takes the focus, so a keyboard or screen-reader user lands on what opened.
    await panel.locator('h2:focus', { hasText: 'Kim Minji' }).waitFor();

    const profile = panel.locator('[data-customer=profile]');
    await expect(profile.innerText()).resolves.toContain('minji@example.com');
    await expect(profile.innerText()).resolves.toContain('+821012345678');
    const res = await t.graphql<{
      customerInsights: {
        lifetimeValue: { amount: string; currency: string };
        churnRisk: number;
        rfm: { code: string };
      };
    }>('query($id: ID!) { customerInsights(id: $id) { lifetimeValue { amount currency } churnRisk rfm { code } } }', {
      id: minji.id,
    });
    const expected = res.body.data!.customerInsights;
    const insights = panel.locator('[data-customer=insights]');
    const text = await insights.innerText();
    expect(text).toContain(await moneyIn(page, expected.lifetimeValue));
    expect(text).toContain(await percentIn(page, expected.churnRisk));
    expect(text).toContain(expected.rfm.code);
    expect(text).toContain('VIP_RECOGNITION');

    const timeline = panel.getByRole('table', { name: /Timeline/ });
    const rows = timeline.locator('tbody tr');
    await expect(rows.filter({ hasText: 'COMPLAINT' }).innerText()).resolves.toMatch(/PHONE\s+late delivery/);
    const storeRow = await rows.filter({ hasText: 'STORE' }).innerText();
    expect(storeRow).toContain('PURCHASE');
    expect(storeRow).toContain(await moneyIn(page, { amount: '600000', currency: 'KRW' }));
    const before = await rows.count();

    // Live: a purchase of hers appears on the open timeline.
    await pageIsLive(page);
    await recordPurchase(t, { customerId: minji.id, amount: '45000', channel: 'APP' });
    await rows
      .filter({ hasText: await moneyIn(page, { amount: '45000', currency: 'KRW' }) })
      .waitFor({ timeout: 10_000 });
    await eventually(
      () => rows.count(),
      (n) => n === before + 1,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-customer.png'), fullPage: true });
  });

  it('lists the campaigns with their KPIs; a campaign shows its stats and recipients, who lead to the customer', async () => {
    const page = await signInAsAdmin();
    const list = page.getByRole('table', { name: /campaigns?, newest first/ });
    const row = list.locator('tbody tr', { hasText: campaign.code });
    await row.waitFor();
    const text = await row.innerText();
    expect(text).toContain('VIP thank-you');
    expect(text).toContain('COMPLETED');
    expect(text).toMatch(/1 of 1/);
    expect(text).toContain(await percentIn(page, 1)); // she opened it

    await row.getByRole('link', { name: campaign.code }).click();
    await page.waitForURL(new RegExp(`#campaign=${encodeURIComponent(campaign.id)}$`));
    const detail = page.locator('[data-campaign]');
    await detail.getByRole('heading', { name: `Campaign ${campaign.code} · VIP thank-you` }).waitFor();
    await expect(detail.locator('.stats').innerText()).resolves.toMatch(/1 opened, 0 clicked/);
    const recipients = detail.getByRole('table', { name: /Recipients: 1/ });
    await recipients.getByRole('link', { name: minji.code }).click();
    await page
      .locator('[data-section=customer]')
      .getByRole('heading', { name: `Customer ${minji.code} · Kim Minji` })
      .waitFor();
    expect(new URL(page.url()).hash).toContain(`customer=${encodeURIComponent(minji.id)}`);
  });

  it('shows an ANALYST addresses masked: in the feeds, a segment list (moving live) and a customer', async () => {
    await t.tokenFor('ANALYST');
    const hash = `#segment=VIP&customer=${encodeURIComponent(minji.id)}`;
    const page = await signIn('analyst@pulse.test', 'password for ANALYST', hash);
    const vips = page.getByRole('table', { name: /customers in VIP/ });
    const row = await vips.locator('tbody tr', { hasText: 'Kim Minji' }).innerText();
    expect(row).toContain('m***@example.com');
    expect(row).toContain('+8210****5678');
    expect(row).not.toContain('minji@');
    const panel = page.locator('[data-section=customer]');
    const profile = await panel.locator('[data-customer=profile]').innerText();
    expect(profile).toContain('m***@example.com');
    expect(profile).not.toContain('minji@');
    // Figures are the ANALYST's to read: the insights are shown.
    await expect(panel.locator('[data-customer=insights]').innerText()).resolves.toContain('Lifetime value');

    const another = await createCustomer(t, { name: 'Choi Masked', email: 'choi.masked@example.com' });
    await pageIsLive(page);
    await recordPurchase(t, { customerId: another.id, amount: '1000000' });
    const item = page.locator('[data-feed=segments] li', { hasText: /Choi Masked.*NEW → VIP/ });
    await item.waitFor({ timeout: 2_000 });
    const line = await item.innerText();
    expect(line).toContain('c***@example.com');
    expect(line).not.toContain('choi.masked@');
    // The segment's list follows the move: she joins it, masked like the others.
    const joined = vips.locator('tbody tr', { hasText: 'Choi Masked' });
    await joined.waitFor({ timeout: 10_000 });
    await expect(joined.innerText()).resolves.toContain('c***@example.com');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-analyst.png'), fullPage: true });
  });

  it('tells SUPPORT the KPIs and campaigns are not for its role, and marks a customer’s figures hidden', async () => {
    await t.tokenFor('SUPPORT');
    const page = await signIn(
      'support@pulse.test',
      'password for SUPPORT',
      `#customer=${encodeURIComponent(minji.id)}`,
    );
    await expect(page.locator('[data-section=kpis] [role=alert]').innerText()).resolves.toMatch(
      /not available to your role/,
    );
    await expect(page.locator('[data-section=campaigns] [role=alert]').innerText()).resolves.toMatch(
      /not available to your role/,
    );
    const panel = page.locator('[data-section=customer]');
    await panel.getByRole('heading', { name: `Customer ${minji.code} · Kim Minji` }).waitFor();
    await expect(panel.locator('[data-customer=insights] [role=alert]').innerText()).resolves.toMatch(
      /not available to your role/,
    );
    await expect(panel.locator('[data-customer=profile]').innerText()).resolves.toMatch(/Total purchases\s+hidden/);
    const purchase = panel.getByRole('table', { name: /Timeline/ }).locator('tbody tr', { hasText: 'STORE' });
    await expect(purchase.innerText()).resolves.toMatch(/PURCHASE.*hidden/s);
    // Every page of this file, every drill-down: nothing was loaded from anywhere else.
    expect(foreignRequests).toEqual([]);
  });
});
