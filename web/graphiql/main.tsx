import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { getOperationAST, Kind, parse, type DocumentNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import { exampleTabs } from './examples.js';

// Same origin as the page: HTTP for queries and mutations, graphql-ws for subscriptions.
const httpUrl = new URL('/graphql', window.location.href).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');
const TOKEN_KEY = 'pulse-crm.token';

function tryParse(query: string): DocumentNode | undefined {
  try {
    return parse(query);
  } catch {
    return undefined;
  }
}

/**
 * Signed-in requests: the token goes in the Authorization header over HTTP and in
 * connection_init over WebSocket. GraphiQL 4 also hands the fetcher the previous tab's parsed
 * document and operation name until the editor is focused, so right after a tab switch a
 * subscription went over HTTP and a named operation was "unknown": both are derived here from
 * the query actually being sent.
 */
function createFetcher(token: string): Fetcher {
  const authorization = `Bearer ${token}`;
  const base = createGraphiQLFetcher({
    url: httpUrl,
    headers: { authorization },
    wsClient: createClient({ url: wsUrl, lazy: true, retryAttempts: 5, connectionParams: { authorization } }),
  });
  return (params, opts) => {
    const documentAST = tryParse(params.query);
    if (!documentAST) return base(params, opts);
    // A stale name falls back to the document's first operation, as GraphiQL runs by default.
    const firstOperation = documentAST.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
    const operationName =
      params.operationName && getOperationAST(documentAST, params.operationName)
        ? params.operationName
        : (firstOperation?.name?.value ?? null);
    return base({ ...params, operationName }, { ...opts, documentAST });
  };
}

function SignIn({ onToken }: { onToken: (token: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const res = await fetch(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          'mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token userErrors { message } } }',
        variables: { email: form.get('email'), password: form.get('password') },
      }),
    });
    const body = (await res.json()) as {
      data?: { login: { token: string | null; userErrors: Array<{ message: string }> } };
    };
    const token = body.data?.login.token;
    if (!token) return setError(body.data?.login.userErrors[0]?.message ?? 'sign-in failed');
    sessionStorage.setItem(TOKEN_KEY, token);
    onToken(token);
  }
  return (
    <form className="sign-in" onSubmit={submit}>
      <h1>Pulse CRM API</h1>
      <p>Sign in to explore the API in GraphiQL.</p>
      <label>
        Email <input name="email" type="email" autoComplete="username" required />
      </label>
      <label>
        Password <input name="password" type="password" autoComplete="current-password" required />
      </label>
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  if (!token) return <SignIn onToken={setToken} />;
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };
  return (
    <div className="signed-in">
      <GraphiQL fetcher={createFetcher(token)} defaultTabs={exampleTabs} defaultEditorToolsVisibility="variables">
        <GraphiQL.Logo>
          <button type="button" className="sign-out" onClick={signOut}>
            Sign out
          </button>
        </GraphiQL.Logo>
      </GraphiQL>
    </div>
  );
}

const root = document.getElementById('graphiql');
if (!root) throw new Error('missing #graphiql element');
createRoot(root).render(<App />);
