/**
 * The tabs a new GraphiQL user sees first: ready-made operations for the main use cases.
 * Each later domain adds its own examples here.
 */
export const exampleTabs = [
  {
    query: `# Welcome to the Pulse CRM API.
# Press the run button (or Ctrl-Enter) to send the operation in this tab.
# The Docs panel on the left describes every type and field.

query SystemStatus {
  systemStatus {
    version
    uptimeSeconds
    activeWebSockets
    activeSubscriptions
    database {
      kind
      isReachable
      pingMs
    }
  }
}
`,
  },
  {
    query: `# Subscriptions run over WebSocket (graphql-ws) and stream results until stopped.
subscription WatchSystemStatus {
  systemStatus(intervalSeconds: 1) {
    uptimeSeconds
    memoryRssBytes
    activeSubscriptions
  }
}
`,
  },
  {
    query: `# Customers with their segment, value and latest interactions (newest first).
query TopCustomers {
  customers(first: 10, orderBy: { field: TOTAL_PURCHASES, direction: DESC }) {
    totalCount
    edges {
      node {
        id
        code
        name
        segment
        totalPurchases { amount currency }
        insights { lifetimeValue { amount } churnRisk daysSinceLastInteraction }
        interactions(first: 3) { edges { node { type channel occurredAt description } } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`,
  },
  {
    query: `# Create a customer, then record a purchase for it (paste its id into the variables).
mutation CreateCustomer {
  createCustomer(input: { name: "Kim Minji", email: "minji@example.com", phone: "010-1234-5678" }) {
    customer { id code segment }
    userErrors { field message code }
  }
}

mutation RecordPurchase($customerId: ID!) {
  recordPurchase(input: { customerId: $customerId, amount: "150000", channel: STORE, externalId: "receipt-0001" }) {
    interaction { id occurredAt amount { amount currency } }
    customer { segment totalPurchases { amount } purchaseCount }
    isReplay
    userErrors { field message code }
  }
}
`,
    variables: '{ "customerId": "" }',
  },
  {
    query: `# How many customers are in each segment, and the rules that put them there.
query Segments {
  segmentSummary { segment count }
  segmentPolicy { vipMinTotalPurchases { amount currency } atRiskAfterDays churnedAfterDays loyalMinPurchases }
}
`,
  },
  {
    query: `# Live: every segment change (try a purchase in another tab). Pass a cursor as
# "after" to replay what you missed.
subscription SegmentChanges($after: String) {
  segmentChanged(after: $after) {
    customer { code name }
    from
    to
    reason
    changedAt
    cursor
  }
}
`,
  },
  {
    query: `# Campaigns: create a draft, start it, then watch it in the next tab. The outbox
# channel records each rendered message with its delivery (outboxMessages).
query Campaigns {
  campaigns(first: 10) {
    totalCount
    edges { node { id code name status targetSegments stats { targeted sent delivered failed responseRate conversions revenue { amount } } } }
  }
}

mutation CreateCampaign {
  createCampaign(input: { name: "Spring for our best customers", targetSegments: [VIP, LOYAL], message: "Dear {{name}}, spring is here." }) {
    campaign { id code status }
    userErrors { field message code }
  }
}

mutation ExecuteCampaign($id: ID!) {
  executeCampaign(id: $id) { campaign { status startedAt } userErrors { field message code } }
}
`,
    variables: '{ "id": "" }',
  },
  {
    query: `# Live: progress of every campaign (or one, with campaignId), ending with its final state.
subscription CampaignProgress($campaignId: ID, $after: String) {
  campaignProgress(campaignId: $campaignId, after: $after) {
    campaign { code name }
    status
    stats { targeted sent delivered failed }
    cursor
  }
}
`,
  },
  {
    query: `# Business KPIs of a date range from daily counters (the method is in the Docs panel),
# cohort retention, and one customer's RFM score and next best actions.
query Dashboard {
  dashboard(from: "2026-01-01T00:00:00Z", to: "2026-12-31T00:00:00Z", granularity: MONTH) {
    revenue { total { amount currency } series { start value { amount } } }
    purchases { total } averageOrderValue { total { amount } }
    newCustomers { total } activeCustomers complaintRate { total } churnRate { total }
    segmentDistribution { segment count } segmentFlows { from to count }
    campaigns { campaigns delivered responseRate conversionRate revenue { amount } }
  }
  cohortRetention(months: 6) { month customers retention }
  customers(first: 3) { edges { node { code name insights { rfm { code } lifetimeValue { amount } nextBestActions { action reason } } } } }
}
`,
  },
];
