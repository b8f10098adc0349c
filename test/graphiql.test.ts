/**
 * GraphiQL as an operator uses it: served by the API from local files, in a real headless
 * Chromium, running a query over HTTP and a subscription over graphql-ws.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kind, parse } from 'graphql';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../src/shared/paths.js';
import { exampleTabs } from '../web/graphiql/examples.js';
import { launchChromium } from './helpers/chromium.js';
import { eventually } from './helpers/process.js';
import { TEST_AUTH_ENV, useTestServer } from './helpers/server.js';

const ARTIFACTS = path.join(projectRoot, 'test', 'artifacts');

describe('GraphiQL', () => {
  const t = useTestServer();
  let browser: Browser;
  let page: Page;
  const foreignRequests: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    const origin = new URL(t.baseUrl).host;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (!['data:', 'blob:'].includes(url.protocol) && url.host !== origin) foreignRequests.push(req.url());
    });
    page.on('websocket', (ws) => {
      if (new URL(ws.url()).host !== origin) foreignRequests.push(ws.url());
    });
    await mkdir(ARTIFACTS, { recursive: true });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
  });

  const responseText = () => page.locator('.graphiql-response').innerText();

  it('loads from the API itself with no external request, and signs in', async () => {
    const res = await page.goto(`${t.baseUrl}/graphql`);
    expect(res?.status()).toBe(200);
    await page.locator('input[name=password]').fill('not the password');
    await page.locator('input[name=email]').fill(TEST_AUTH_ENV.CRM_ADMIN_EMAIL);
    await page.locator('button[type=submit]').click();
    await expect(page.locator('[role=alert]').innerText()).resolves.toBe('wrong email or password');
    await page.locator('input[name=password]').fill(TEST_AUTH_ENV.CRM_ADMIN_PASSWORD);
    await page.locator('button[type=submit]').click();
    await page.locator('.graphiql-container').waitFor();
    await page.locator('.graphiql-execute-button').waitFor();
    expect(foreignRequests).toEqual([]);
  });

  it('runs the example query and shows the result', async () => {
    await page.locator('.graphiql-execute-button').click();
    await eventually(responseText, (text) => text.includes('"isReachable": true'), 30_000);
    expect(await responseText()).toMatch(/"kind": "EXTERNAL"/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'graphiql-query.png') });
  });

  it('runs the example subscription over graphql-ws and shows live results until stopped', async () => {
    await page.locator('.graphiql-tab').nth(1).click();
    await page.locator('.graphiql-query-editor', { hasText: 'systemStatus(intervalSeconds: 1)' }).waitFor();
    await page.locator('.graphiql-execute-button').click();
    const first = await eventually(responseText, (text) => /"uptimeSeconds": [\d.]+/.test(text), 30_000);
    expect(t.server.runtime.activeSubscriptions).toBe(1);
    // A later event replaces the first one on the page.
    await eventually(responseText, (text) => /"uptimeSeconds": [\d.]+/.test(text) && text !== first, 30_000);
    await page.screenshot({ path: path.join(ARTIFACTS, 'graphiql-subscription.png') });
    await page.locator('.graphiql-execute-button').click(); // the run button became a stop button
    await eventually(
      async () => t.server.runtime.activeSubscriptions,
      (n) => n === 0,
    );
    expect(foreignRequests).toEqual([]);
  });

  /**
   * Runs a tab's operation as an operator does. GraphiQL reads the tab's document a moment after
   * the switch (debounced); a tab with several operations then turns the run button into a menu
   * of them. So it waits for the button that fits the tab as shipped — a plain button, or the
   * menu to pick the operation from — instead of clicking at whatever state the page is in.
   */
  async function runTab(tab: number, operation: string): Promise<void> {
    const operations = parse(exampleTabs[tab]!.query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    await page.locator('.graphiql-tab').nth(tab).click();
    await page.locator('.graphiql-query-editor', { hasText: `query ${operation}` }).waitFor({ timeout: 30_000 });
    if (operations.length === 1) {
      await page.locator('.graphiql-execute-button:not([aria-haspopup])').click({ timeout: 30_000 });
      return;
    }
    await page.locator('.graphiql-execute-button[aria-haspopup="menu"]').click({ timeout: 30_000 });
    await page.getByRole('menuitem', { name: operation, exact: true }).click({ timeout: 30_000 });
  }

  it('runs the customer, segment and campaign examples as shipped', async () => {
    for (const [tab, operation, expected] of [
      [2, 'TopCustomers', /"totalCount": \d+/],
      [4, 'Segments', /"segmentSummary": \[/],
      [6, 'Campaigns', /"campaigns": \{/],
    ] as const) {
      await runTab(tab, operation);
      await eventually(responseText, (text) => expected.test(text), 30_000);
      expect(await responseText()).not.toMatch(/"errors"/);
    }
  }, 180_000);
});
