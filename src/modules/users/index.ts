import type { DomainModule } from '../../app/module.js';
import { User } from './model.js';
import { resolvers } from './resolvers.js';

export { createUsersService, type UsersService, type Viewer } from './service.js';
export { resolveJwtSecret } from './secret.js';
export { ROLES, type ApiKeyDoc, type Role, type UserDoc } from './model.js';
export { passwordChecks } from './passwords.js';

/** The users domain as the composition root sees it. */
export const usersModule = {
  name: 'users',
  indexedModels: [User],
  resolvers,
} satisfies DomainModule;
export { findUser, findUsers } from './directory.js';
