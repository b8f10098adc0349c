import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import { exampleTabs } from './examples.js';

// Same origin as the page: HTTP for queries and mutations, graphql-ws for subscriptions.
const httpUrl = new URL('/graphql', window.location.href).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');

const fetcher = createGraphiQLFetcher({
  url: httpUrl,
  wsClient: createClient({ url: wsUrl, lazy: true, retryAttempts: 5 }),
});

const root = document.getElementById('graphiql');
if (!root) throw new Error('missing #graphiql element');

createRoot(root).render(<GraphiQL fetcher={fetcher} defaultTabs={exampleTabs} defaultEditorToolsVisibility="variables" />);
