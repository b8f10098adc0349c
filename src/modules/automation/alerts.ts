import mongoose from 'mongoose';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import type { Automation } from './deps.js';
import { Alert, type AlertDoc, type Department } from './model.js';
import { insertAndPublish, isPublished } from './publication.js';

/**
 * Raises an alert once (its `_id` says what it is about: a step, a loop in an hour, the
 * complaints of an hour) and publishes it as ALERT_RAISED. True when it is new.
 */
export function raiseAlert(deps: Pick<Automation, 'events'>, alert: AlertDoc): Promise<boolean> {
  return insertAndPublish(Alert, alert, () => deps.events.append('ALERT_RAISED', { alert }));
}

/** Whether this alert was raised and its event appended (it is never raised again then). */
export function isPublishedAlert(id: string): Promise<boolean> {
  return isPublished(Alert, id);
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
