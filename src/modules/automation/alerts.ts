import mongoose from 'mongoose';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import type { Automation } from './deps.js';
import { Alert, type AlertDoc, type Department } from './model.js';
import { insertAndPublish, isPublished } from './publication.js';

/** Alert ids this process has seen published, the most recent first to go past `limit`. */
export type PublishedAlerts = { has(id: string): boolean; add(id: string): void };

/**
 * A published alert stays published, so what this process saw once it need not read again: the
 * complaint anomaly check asks about the same hour's alert for every complaint of that hour.
 */
export function createPublishedAlerts(limit = 1_000): PublishedAlerts {
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    add(id) {
      ids.add(id);
      if (ids.size > limit) ids.delete(ids.values().next().value!);
    },
  };
}

/**
 * Raises an alert once (its `_id` says what it is about: a step, a loop in an hour, the
 * complaints of an hour) and publishes it as ALERT_RAISED. True when it is new.
 */
export async function raiseAlert(
  deps: Pick<Automation, 'events' | 'publishedAlerts'>,
  alert: AlertDoc,
): Promise<boolean> {
  const isNew = await insertAndPublish(Alert, alert, () => deps.events.append('ALERT_RAISED', { alert }));
  deps.publishedAlerts.add(alert._id);
  return isNew;
}

/** Whether this alert was raised and its event appended (it is never raised again then). */
export async function isPublishedAlert(deps: Pick<Automation, 'publishedAlerts'>, id: string): Promise<boolean> {
  if (deps.publishedAlerts.has(id)) return true;
  const isKnown = await isPublished(Alert, id);
  if (isKnown) deps.publishedAlerts.add(id);
  return isKnown;
}

/** The alerts of these departments (all when null), newest first. Null when `after` is not a cursor of this list. */
export function listAlerts(args: {
  departments: Department[] | null;
  first: number;
  after?: string | null;
}): Promise<Page<AlertDoc> | null> {
  const filter: Record<string, unknown> = args.departments
    ? { departments: mongoose.trusted({ $in: args.departments }) }
    : {};
  return newestFirstPage(Alert, filter, args, { path: 'raisedAt', idKind: 'string' });
}

export function findAlert(id: string): Promise<AlertDoc | null> {
  return Alert.findById(id).lean<AlertDoc>().exec();
}
