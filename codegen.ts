import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Plain `typescript` + `typescript-resolvers` rather than the server preset: one generated
 * file, and mappers bind each GraphQL object type to the model or service type its parent
 * resolver really returns, so a resolver that returns the wrong shape fails to compile.
 */
const config: CodegenConfig = {
  schema: 'schema/*.graphql',
  generates: {
    'src/generated/graphql.ts': {
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        useIndexSignature: false,
        contextType: '../graphql/context.js#GraphQLContext',
        scalars: { DateTime: 'Date' },
        // Roles are plain strings in the models; keep the generated enum a string union.
        mappers: {
          SystemStatus: '../modules/system/service.js#SystemStatusSnapshot',
          Customer: '../modules/customers/model.js#CustomerDoc',
          CustomerConnection: '../db/pagination.js#Page<CustomerDoc>',
          Interaction: '../modules/interactions/model.js#InteractionDoc',
          InteractionConnection: '../db/pagination.js#Page<InteractionDoc>',
          InteractionEvent: '../modules/interactions/service.js#InteractionEventView',
          CustomerInsights: '../modules/insights/service.js#CustomerInsights as CustomerInsightsModel',
          SegmentPolicy: '../shared/segment-policy.js#SegmentPolicy as SegmentPolicyModel',
          SegmentChange: '../modules/segments/service.js#SegmentChangeView',
          User: '../modules/users/model.js#UserDoc',
          Colleague: '../modules/users/model.js#UserDoc',
          ApiKey: '../modules/users/model.js#ApiKeyDoc',
          AuditEntry: '../modules/audit/model.js#AuditEntryDoc',
          AuditEntryConnection: '../db/pagination.js#Page<AuditEntryDoc>',
          SegmentHistoryEntry: '../modules/segments/model.js#SegmentChangeDoc',
          Campaign: '../modules/campaigns/model.js#CampaignDoc',
          CampaignConnection: '../db/pagination.js#Page<CampaignDoc>',
          CampaignStats: '../modules/campaigns/model.js#CampaignStatsDoc',
          CampaignDelivery: '../modules/campaigns/model.js#DeliveryDoc',
          CampaignDeliveryConnection: '../db/pagination.js#Page<DeliveryDoc>',
          OutboxMessage: '../modules/campaigns/model.js#DeliveryDoc',
          OutboxMessageConnection: '../db/pagination.js#Page<DeliveryDoc>',
          CampaignProgressEvent: '../modules/campaigns/service.js#CampaignProgressView',
          AutomationRule: '../modules/automation/model.js#RuleDoc',
          AutomationTrigger: '../modules/automation/model.js#TriggerDoc',
          Condition: '../modules/automation/model.js#ConditionDoc',
          AutomationAction: '../modules/automation/model.js#ActionDoc',
          AutomationRuleStats: '../modules/automation/model.js#RuleStatsDoc',
          Task: '../modules/automation/model.js#TaskDoc',
          AutomationFailedStep: '../modules/automation/model.js#JobDoc',
          TaskConnection: '../db/pagination.js#Page<TaskDoc>',
          Alert: '../modules/automation/model.js#AlertDoc as AlertModel',
          AlertConnection: '../db/pagination.js#Page<AlertModel>',
          WebhookEndpoint: '../modules/webhooks/model.js#EndpointDoc',
          WebhookDelivery: '../modules/webhooks/model.js#DeliveryDoc as WebhookDeliveryModel',
          WebhookDeliveryConnection: '../db/pagination.js#Page<WebhookDeliveryModel>',
        },
      },
    },
  },
};

export default config;
