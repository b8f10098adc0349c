import type { RuleInput } from './rule-input.js';

/**
 * The journeys every new deployment starts with, installed as ordinary rules on an empty rules
 * collection (edit or disable them like any rule; `journey` says where they came from).
 */
export const DEFAULT_JOURNEYS: Array<{ name: string; rule: RuleInput }> = [
  {
    name: 'onboarding',
    rule: {
      name: 'Onboarding: welcome, then a reminder after 7 days without a purchase',
      trigger: { type: 'CUSTOMER_CREATED' },
      actions: [
        { type: 'SEND_MESSAGE', message: 'Welcome, {{name}}! We are glad you are here.' },
        {
          type: 'SEND_MESSAGE',
          delayMinutes: 7 * 24 * 60,
          onlyIf: [{ field: 'PURCHASE_COUNT', operator: 'EQ', value: '0' }],
          message: 'Hello {{name}}, still looking? Here is what our customers like most.',
        },
      ],
    },
  },
  {
    name: 'vip-welcome',
    rule: {
      name: 'VIP welcome: tell SALES when a customer becomes VIP',
      trigger: { type: 'SEGMENT_CHANGED', toSegments: ['VIP'] },
      actions: [
        { type: 'CREATE_TASK', department: 'SALES', title: 'New VIP: call to welcome them', dueInDays: 2 },
        { type: 'ADD_TAG', tag: 'vip-welcomed' },
      ],
    },
  },
  {
    name: 'retention',
    rule: {
      name: 'Retention: a message and a SUPPORT task when a customer becomes AT_RISK',
      trigger: { type: 'SEGMENT_CHANGED', toSegments: ['AT_RISK'] },
      actions: [
        { type: 'SEND_MESSAGE', message: 'We miss you, {{name}}. Is there anything we can help with?' },
        { type: 'CREATE_TASK', department: 'SUPPORT', title: 'At-risk customer: check in', dueInDays: 3 },
      ],
    },
  },
  {
    name: 'win-back',
    rule: {
      name: 'Win-back: an offer when a customer has churned',
      trigger: { type: 'SEGMENT_CHANGED', toSegments: ['CHURNED'] },
      actions: [{ type: 'SEND_MESSAGE', message: '{{name}}, come back: 20% off your next order.' }],
    },
  },
  {
    name: 'complaint-escalation',
    rule: {
      name: 'Complaint escalation: a second complaint within 7 days',
      trigger: { type: 'INTERACTION_RECORDED', interactionTypes: ['COMPLAINT'] },
      conditions: [{ field: 'COMPLAINTS_LAST_7_DAYS', operator: 'GTE', value: '2' }],
      actions: [
        {
          type: 'CREATE_TASK',
          department: 'SUPPORT',
          title: 'Repeated complaints: call the customer today',
          dueInDays: 1,
        },
        { type: 'RAISE_ALERT', title: 'Repeated complaints', severity: 'WARNING', departments: ['SUPPORT'] },
      ],
    },
  },
];
