import { Types } from 'mongoose';

/**
 * Global ids (Relay): an opaque base64url of "Type:localId", so `node(id)` knows the type
 * and clients never build ids by hand.
 */
const NODE_TYPES = [
  'Customer',
  'Interaction',
  'User',
  'AuditEntry',
  'ApiKey',
  'Campaign',
  'CampaignDelivery',
  'AutomationRule',
  'Task',
  'Alert',
  'WebhookEndpoint',
  'WebhookDelivery',
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export function toGlobalId(type: NodeType, localId: string): string {
  return Buffer.from(`${type}:${localId}`, 'utf8').toString('base64url');
}

/** The type and local id, or null when the id is not one of ours. */
export function fromGlobalId(globalId: string): { type: NodeType; localId: string } | null {
  if (globalId.length > 300) return null;
  const decoded = Buffer.from(globalId, 'base64url').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return null;
  const type = decoded.slice(0, colon);
  const localId = decoded.slice(colon + 1);
  if (!(NODE_TYPES as readonly string[]).includes(type) || !localId) return null;
  return { type: type as NodeType, localId };
}

/** The local id of a global id of the expected type, or null. */
export function localIdOf(globalId: string, type: NodeType): string | null {
  const parsed = fromGlobalId(globalId);
  return parsed && parsed.type === type ? parsed.localId : null;
}

/** A 24-hex-digit id as an ObjectId, or null when it is not one (never throws on client input). */
export function objectIdOrNull(id: string): Types.ObjectId | null {
  return Types.ObjectId.isValid(id) && id.length === 24 ? new Types.ObjectId(id) : null;
}
