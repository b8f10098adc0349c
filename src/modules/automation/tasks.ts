import mongoose, { Types } from 'mongoose';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import { findCustomer } from '../customers/index.js';
import type { UserDoc } from '../users/model.js';
import { findUser, findUsers } from '../users/index.js';
import type { Automation } from './deps.js';
import { Task, type Department, type TaskDoc } from './model.js';
import { insertAndPublish } from './publication.js';

/** A task written, or why not. */
export type TaskResult = { task: TaskDoc; problems?: undefined } | { problems: FieldProblem[]; task?: undefined };

/**
 * Departments: null for ADMIN (every department); otherwise the caller's, which it may create
 * tasks for, change, and assign to colleagues of.
 */
type Departments = Department[] | null;

/** Creates a task once (its `_id` is its key) and publishes it as TASK_CREATED. True when it is new. */
export function publishTask(deps: Pick<Automation, 'events'>, task: TaskDoc): Promise<boolean> {
  return insertAndPublish(Task, task, () => deps.events.append('TASK_CREATED', { task }));
}

export function listTasks(args: {
  departments: Departments;
  status?: TaskDoc['status'] | null;
  first: number;
  after?: string | null;
}): Promise<Page<TaskDoc> | null> {
  const filter: Record<string, unknown> = {};
  if (args.departments) filter.department = mongoose.trusted({ $in: args.departments });
  if (args.status) filter.status = args.status;
  return newestFirstPage(Task, filter, args, { path: 'createdAt', idKind: 'string' });
}

export function findTask(id: string): Promise<TaskDoc | null> {
  return Task.findById(id).lean<TaskDoc>().exec();
}

/** The users tasks are assigned to, by id, in the order asked (a DataLoader's batch). */
export function findAssignees(ids: readonly string[]): Promise<Array<UserDoc | null>> {
  return findUsers(ids);
}

export async function createTask(
  deps: Pick<Automation, 'clock' | 'events'>,
  input: {
    title: string;
    department: Department;
    customerId?: string | null;
    dueAt?: Date | null;
    assigneeId?: string | null;
  },
  departments: Departments,
): Promise<TaskResult> {
  const problems: FieldProblem[] = [];
  const title = input.title.trim();
  if (!isTitle(title)) problems.push(...titleProblem().problems);
  const customerId = input.customerId != null ? objectIdOrNull(input.customerId) : null;
  if (input.customerId != null && !(customerId && (await findCustomer(customerId))))
    problems.push(...notFound('customer', ['input', 'customerId']).problems);
  const assignee = await assigneeProblem(input.assigneeId, departments && input.department);
  if (assignee) problems.push(assignee);
  if (problems.length) return { problems };
  const now = deps.clock.now();
  const task: TaskDoc = {
    _id: `t:${new Types.ObjectId().toHexString()}`,
    title,
    department: input.department,
    customerId,
    status: 'OPEN',
    dueAt: input.dueAt ?? null,
    assigneeId: input.assigneeId ? objectIdOrNull(input.assigneeId) : null,
    createdAt: now,
    updatedAt: now,
  };
  await publishTask(deps, task);
  return { task };
}

export async function updateTask(
  deps: Pick<Automation, 'clock'>,
  id: string,
  input: { title?: string | null; status?: TaskDoc['status'] | null; dueAt?: Date | null; assigneeId?: string | null },
  departments: Departments,
): Promise<TaskResult> {
  const current = await findTask(id);
  if (!current || (departments && !departments.includes(current.department))) return notFound('task of yours');
  const set: Partial<TaskDoc> = { updatedAt: deps.clock.now() };
  if (input.title != null) {
    const title = input.title.trim();
    if (!isTitle(title)) return titleProblem();
    set.title = title;
  }
  if (input.status != null) set.status = input.status;
  if (input.dueAt !== undefined) set.dueAt = input.dueAt;
  if (input.assigneeId !== undefined) {
    const assignee = await assigneeProblem(input.assigneeId, departments && current.department);
    if (assignee) return { problems: [assignee] };
    set.assigneeId = input.assigneeId ? objectIdOrNull(input.assigneeId) : null;
  }
  const task = await Task.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' }).lean<TaskDoc>();
  return { task: task! };
}

const isTitle = (title: string) => title.length >= 1 && title.length <= 200;
const titleProblem = () => problem(['input', 'title'], 'title must be 1 to 200 characters', 'INVALID');

/**
 * Null when the assignee may take the task: an active user, and outside ADMIN (`department`
 * given) one of the task's department. Any other id gets the same answer as an unknown one, so
 * assigning is no way to find out who else works here.
 */
async function assigneeProblem(
  assigneeId: string | null | undefined,
  department: Department | null,
): Promise<FieldProblem | null> {
  if (assigneeId == null) return null;
  const user = await findUser(assigneeId);
  if (user?.isActive && (department === null || user.role === department)) return null;
  const whom = department === null ? 'active user' : 'active colleague of this department';
  return notFound(whom, ['input', 'assigneeId']).problems[0]!;
}
