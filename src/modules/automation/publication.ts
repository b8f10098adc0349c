import { isDuplicateKeyError } from '../../db/errors.js';
import { storedCollection, type Alert, type Task } from './model.js';

/** A task or an alert as stored: `published` once its event is in the log. */
type PublishedRecord = { _id: string; published: boolean };

/**
 * Inserts a task or an alert under its deterministic id, then publishes it (appends its event)
 * and marks it published. A retry after a crash between the two finds the record unpublished
 * and publishes then: at least once, and consumers recognise the id. True when the record is new.
 */
export async function insertAndPublish(
  model: typeof Task | typeof Alert,
  doc: { _id: string },
  publish: () => Promise<unknown>,
): Promise<boolean> {
  const collection = storedCollection<PublishedRecord>(model);
  let isNew = true;
  try {
    await collection.insertOne({ ...doc, published: false });
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    isNew = false;
    if (await isPublished(model, doc._id)) return false;
  }
  await publish();
  await collection.updateOne({ _id: doc._id }, { $set: { published: true } });
  return isNew;
}

/** Whether the task or alert `id` is stored and published. */
export async function isPublished(model: typeof Task | typeof Alert, id: string): Promise<boolean> {
  return (await storedCollection<PublishedRecord>(model).findOne({ _id: id, published: true })) !== null;
}
