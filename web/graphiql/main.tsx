import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { getOperationAST, parse, type DocumentNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import { exampleTabs } from './examples.js';

// Same origin as the page: HTTP for queries and mutations, graphql-ws for subscriptions.
const httpUrl = new URL('/graphql', window.location.href).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');

const baseFetcher = createGraphiQLFetcher({
  url: httpUrl,
  wsClient: createClient({ url: wsUrl, lazy: true, retryAttempts: 5 }),
});

function tryParse(query: string): DocumentNode | undefined {
  try {
    return parse(query);
  } catch {
    return undefined;
  }
}

/**
 * GraphiQL 4 hands the fetcher the previous tab's parsed document and operation name until
 * the editor is focused, so right after a tab switch a subscription went over HTTP and a named
 * operation was "unknown". Both are derived here from the query actually being sent.
 */
const fetcher: Fetcher = (params, opts) => {
  const documentAST = tryParse(params.query);
  if (!documentAST) return baseFetcher(params, opts);
  const operationName =
    params.operationName && getOperationAST(documentAST, params.operationName)
      ? params.operationName
      : (getOperationAST(documentAST)?.name?.value ?? null);
  return baseFetcher({ ...params, operationName }, { ...opts, documentAST });
};

const root = document.getElementById('graphiql');
if (!root) throw new Error('missing #graphiql element');

createRoot(root).render(
  <GraphiQL fetcher={fetcher} defaultTabs={exampleTabs} defaultEditorToolsVisibility="variables" />,
);
