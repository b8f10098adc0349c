/**
 * The operator dashboard at `/` in a real headless Chromium: served from local files, signs in
 * as two roles, shows KPIs matching the API and a rendered chart, and shows a live segment change
 * within a second of the mutation. Screenshots go to test/artifacts/.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../src/shared/paths.js';
import { launchChromium } from './helpers/chromium.js';
import { createCustomer, recordPurchase } from './helpers/crm.js';
import { startTestServer, TEST_AUTH_ENV, type TestServer } from './helpers/server.js';

const ARTIFACTS = path.join(projectRoot, 'test', 'artifacts');

describe('operator dashboard', () => {
  let t: TestServer;
  let browser: Browser;
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    t = await startTestServer({ env: { AUTOMATION_POLL_MS: '30' } });
    browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
    await new Promise((r) => setTimeout(r, 300)); // the analytics consumer takes its lease
    const a = await createCustomer(t, { name: 'Kim Minji', email: 'minji@example.com' });
    const b = await createCustomer(t, { name: 'Lee Jun' });
    await recordPurchase(t, { customerId: a.id, amount: '120000' });
    await recordPurchase(t, { customerId: b.id, amount: '30000' });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  async function signIn(email: string, password: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origin = new URL(t.baseUrl).host;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.host !== origin) foreignRequests.push(req.url());
    });
    const res = await page.goto(`${t.baseUrl}/`);
    expect(res?.status()).toBe(200);
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await page.locator('button[type=submit]').click();
    await page.locator('[data-kpi=revenue]').waitFor();
    return page;
  }

  async function apiRevenue(): Promise<string> {
    const to = new Date();
    const from = new Date(to.getTime() - 29 * 86_400_000);
    const res = await t.graphql<{ dashboard: { revenue: { total: { amount: string } } } }>(
      'query($f: DateTime!, $t: DateTime!) { dashboard(from: $f, to: $t) { revenue { total { amount } } } }',
      { f: from.toISOString(), t: to.toISOString() },
    );
    return res.body.data!.dashboard.revenue.total.amount;
  }

  it('shows the KPIs the API computes, a rendered chart, and a live segment change within a second (ADMIN)', async () => {
    const page = await signIn(TEST_AUTH_ENV.CRM_ADMIN_EMAIL, TEST_AUTH_ENV.CRM_ADMIN_PASSWORD);
    const amount = await apiRevenue();
    expect(amount).toBe('150000');
    // Money as the viewer's locale writes it in the deployment currency (₩150,000 in en-US).
    const shown = await page.evaluate(
      (a) =>
        new Intl.NumberFormat((globalThis as unknown as { navigator: { language: string } }).navigator.language, {
          style: 'currency',
          currency: 'KRW',
        }).format(Number(a)),
      amount,
    );
    expect(shown).toMatch(/150,000|150\.000|150 000/);
    await expect(page.locator('[data-kpi=revenue] .value').innerText()).resolves.toBe(shown);
    await expect(page.locator('[data-kpi=purchases] .value').innerText()).resolves.toBe('2');
    const canvas = page.locator('[data-chart=revenue] canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    expect(box!.width).toBeGreaterThan(100);
    await expect(page.locator('[data-segment=NEW]').innerText()).resolves.toMatch(/NEW: 2/);
    await page.locator('[data-status] dd').first().waitFor();

    // Live: a purchase that makes a customer VIP appears in the feed within a second.
    const vip = await createCustomer(t, { name: 'Park Live', email: 'park.live@example.com' });
    await page.waitForTimeout(300); // the page's subscriptions are running
    // From the mutation's answer to the line on the page: at most a second.
    await recordPurchase(t, { customerId: vip.id, amount: '1000000' });
    const answered = Date.now();
    await page.locator('[data-feed=segments] li', { hasText: 'NEW → VIP' }).waitFor({ timeout: 1_000 });
    expect(Date.now() - answered).toBeLessThan(1_000);
    await expect(page.locator('[data-feed=segments] li', { hasText: 'NEW → VIP' }).innerText()).resolves.toContain(
      'park.live@example.com',
    );
    // The tiles and the segment bars move too, without reloading: a third purchase, a VIP.
    await page.locator('[data-kpi=purchases] .value', { hasText: /^3$/ }).waitFor({ timeout: 15_000 });
    await page.locator('[data-segment=VIP]', { hasText: /VIP: 1/ }).waitFor({ timeout: 15_000 });
    await expect(page.locator('[data-kpi=revenue] .value').innerText()).resolves.toMatch(
      /1,150,000|1\.150\.000|1 150 000/,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-admin.png'), fullPage: true });
    expect(foreignRequests).toEqual([]);
    await page.goto('about:blank'); // leaving closes the page's WebSocket cleanly
    await page.close();
  });

  it('respects the role: ANALYST sees addresses masked; SUPPORT is told the KPIs are not for its role', async () => {
    await t.tokenFor('ANALYST');
    const page = await signIn('analyst@pulse.test', 'password for ANALYST');
    const another = await createCustomer(t, { name: 'Choi Masked', email: 'choi.masked@example.com' });
    await page.waitForTimeout(300);
    await recordPurchase(t, { customerId: another.id, amount: '1000000' });
    const item = page.locator('[data-feed=segments] li', { hasText: /Choi Masked.*NEW → VIP/ });
    await item.waitFor({ timeout: 2_000 });
    const text = await item.innerText();
    expect(text).toContain('c***@example.com');
    expect(text).not.toContain('choi.masked@');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-analyst.png'), fullPage: true });
    await page.goto('about:blank'); // leaving closes the page's WebSocket cleanly
    await page.close();

    await t.tokenFor('SUPPORT');
    const support = await browser.newPage();
    await support.goto(`${t.baseUrl}/`);
    await support.locator('input[name=email]').fill('support@pulse.test');
    await support.locator('input[name=password]').fill('password for SUPPORT');
    await support.locator('button[type=submit]').click();
    await expect(support.locator('[data-section=kpis] [role=alert]').innerText()).resolves.toMatch(
      /not available to your role/,
    );
    await support.close();
  });
});
