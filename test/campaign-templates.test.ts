/**
 * Message templates do not grow memory: checking a template (and refusing it) caches nothing,
 * and the templates kept for rendering are bounded, however many distinct messages come.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import Mustache from 'mustache';
import { PARSED_TEMPLATES_MAX, parsedTemplateCount } from '../src/modules/campaigns/template.js';
import { campaignMutation, createCampaign, settled } from './helpers/campaigns.js';
import { createCustomer } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

/** Whether Mustache holds this template parsed (its cache key: the template and the default tags). */
const isCached = (template: string) => Mustache.templateCache?.get(`${template}:{{:}}`) !== undefined;

describe('campaign message templates', () => {
  const t = useTestServer({ env: { CAMPAIGN_POLL_MS: '50' } });
  beforeAll(async () => {
    await createCustomer(t, { name: 'Template Reader' });
  });

  it('refused and saved templates are checked without being cached', async () => {
    const before = parsedTemplateCount();
    const refused = Array.from({ length: 100 }, (_, i) => `Hello {{unknown${i}}} ${'x'.repeat(2_000)}`);
    const accepted = Array.from({ length: 100 }, (_, i) => `Hello {{name}}, offer ${i} ${'y'.repeat(2_000)}`);
    const answers = await Promise.all([
      ...refused.map((message, i) =>
        campaignMutation(t, 'createCampaign', { input: { name: `refused ${i}`, targetSegments: ['NEW'], message } }),
      ),
      ...accepted.map((message, i) =>
        campaignMutation(t, 'createCampaign', { input: { name: `draft ${i}`, targetSegments: ['NEW'], message } }),
      ),
    ]);
    expect(answers.slice(0, refused.length).every((a) => a.userErrors[0]?.code === 'INVALID')).toBe(true);
    expect(answers.slice(refused.length).every((a) => a.userErrors.length === 0)).toBe(true);

    expect([...refused, ...accepted].filter(isCached).length).toBe(0);
    expect(parsedTemplateCount()).toBe(before);
  });

  it('rendering keeps at most PARSED_TEMPLATES_MAX templates, the most recent ones', async () => {
    const messages = Array.from({ length: PARSED_TEMPLATES_MAX + 8 }, (_, i) => `Hi {{name}}, sent ${i}`);
    for (const [i, message] of messages.entries()) {
      const campaign = await createCampaign(t, { name: `sent ${i}`, targetSegments: ['NEW'], message });
      await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      expect((await settled(t, campaign.id)).stats).toMatchObject({ targeted: 1, delivered: 1 });
    }

    expect(parsedTemplateCount()).toBeLessThanOrEqual(PARSED_TEMPLATES_MAX);
    expect(isCached(messages.at(-1)!)).toBe(true);
    expect(isCached(messages[0]!)).toBe(false);
  });
});
