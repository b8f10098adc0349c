/** The API process's health, every 5 seconds over the live connection. */
import type { Client } from 'graphql-ws';
import { el } from './dom.js';
import { percent } from './format.js';
import { listen } from './live.js';

type SystemStatus = {
  uptimeSeconds: number;
  requestsPerSecond: number;
  p95LatencyMs: number;
  errorRate: number;
  eventLoopLagMs: number;
  eventLogLag: number;
  activeWebSockets: number;
  queues: { automationSteps: number; webhookDeliveries: number; campaigns: number };
};

const SYSTEM_STATUS = `subscription { systemStatus(intervalSeconds: 5) { uptimeSeconds requestsPerSecond p95LatencyMs
  errorRate eventLoopLagMs eventLogLag activeWebSockets queues { automationSteps webhookDeliveries campaigns } } }`;

export function startSystemStatus(section: HTMLElement, client: Client): void {
  const list = el('dl', { 'data-status': '' });
  section.append(el('h2', {}, 'System'), list);
  listen<{ systemStatus: SystemStatus }>(client, SYSTEM_STATUS, ({ systemStatus: s }) => {
    list.replaceChildren();
    const row = (k: string, v: string) => list.append(el('dt', {}, k), el('dd', {}, v));
    row('Uptime', `${Math.round(s.uptimeSeconds)} s`);
    row('Requests', `${s.requestsPerSecond.toFixed(2)}/s, p95 ${s.p95LatencyMs.toFixed(1)} ms`);
    row('Errors', percent(s.errorRate));
    row('Event loop lag', `${s.eventLoopLagMs.toFixed(1)} ms`);
    row('Event log lag', String(s.eventLogLag));
    row('WebSockets', String(s.activeWebSockets));
    row(
      'Queued',
      `${s.queues.automationSteps} steps, ${s.queues.webhookDeliveries} webhooks, ${s.queues.campaigns} campaigns`,
    );
  });
}
