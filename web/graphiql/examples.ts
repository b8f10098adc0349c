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
];
