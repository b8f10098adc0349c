import { expect } from '@jest/globals';
import { eventually } from './process.js';
import type { GraphQLResponse, TestServer } from './server.js';

export type CampaignStatsView = {
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
  revenue: { amount: string; currency: string };
};

export type CampaignView = {
  id: string;
  code: string;
  name: string;
  status: string;
  targetSegments: string[];
  message: string;
  channel: string;
  scheduledAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  failureReason: string | null;
  stats: CampaignStatsView;
};

export const STATS_FIELDS =
  'targeted sent delivered failed responded responseRate opened clicked replied unsubscribed conversions conversionRate revenue { amount currency }';
export const CAMPAIGN_FIELDS = `id code name status targetSegments message channel scheduledAt startedAt completedAt failureReason stats { ${STATS_FIELDS} }`;

type UserError = { field: string[] | null; message: string; code: string };
export type CampaignPayload = { campaign: CampaignView | null; userErrors: UserError[] };

type Graphql = Pick<TestServer, 'graphql'>;

export async function campaignMutation(
  t: Graphql,
  name: 'createCampaign' | 'updateCampaign' | 'executeCampaign' | 'cancelCampaign',
  variables: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<CampaignPayload> {
  const signature = {
    createCampaign: '($input: CreateCampaignInput!) { createCampaign(input: $input)',
    updateCampaign: '($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input)',
    executeCampaign: '($id: ID!) { executeCampaign(id: $id)',
    cancelCampaign: '($id: ID!) { cancelCampaign(id: $id)',
  }[name];
  const res = await t.graphql<Record<string, CampaignPayload>>(
    `mutation${signature} { campaign { ${CAMPAIGN_FIELDS} } userErrors { field message code } } }`,
    variables,
    headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data![name]!;
}

export async function createCampaign(t: Graphql, input: Record<string, unknown>): Promise<CampaignView> {
  const payload = await campaignMutation(t, 'createCampaign', { input });
  expect(payload.userErrors).toEqual([]);
  return payload.campaign!;
}

export async function getCampaign(t: Graphql, id: string): Promise<CampaignView> {
  const res = await t.graphql<{ campaign: CampaignView }>(
    `query($id: ID!) { campaign(id: $id) { ${CAMPAIGN_FIELDS} } }`,
    {
      id,
    },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.campaign;
}

/** Waits (polling the API) until the campaign reaches a final status. */
export function settled(t: Graphql, id: string, timeoutMs = 30_000): Promise<CampaignView> {
  return eventually(
    () => getCampaign(t, id),
    (c) => ['COMPLETED', 'CANCELLED', 'FAILED'].includes(c.status),
    timeoutMs,
  );
}

/** Every delivery of a campaign, following the pages. */
export async function allDeliveries(
  t: Graphql,
  id: string,
  fields = 'status attempts error message customer { id name }',
): Promise<Array<Record<string, unknown> & { customer: { id: string; name: string } }>> {
  type Delivery = Record<string, unknown> & { customer: { id: string; name: string } };
  type Connection = { edges: Array<{ node: Delivery }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  const out: Delivery[] = [];
  let after: string | null = null;
  for (;;) {
    const res: GraphQLResponse<{ campaign: { deliveries: Connection } }> = await t.graphql(
      `query($id: ID!, $after: String) { campaign(id: $id) { deliveries(first: 100, after: $after) { totalCount edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } } }`,
      { id, after },
    );
    expect(res.body.errors).toBeUndefined();
    const conn: Connection = res.body.data!.campaign.deliveries;
    out.push(...conn.edges.map((e) => e.node));
    if (!conn.pageInfo.hasNextPage) return out;
    after = conn.pageInfo.endCursor;
  }
}
