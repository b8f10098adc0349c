import type { DomainModule } from '../../app/module.js';
import { User } from './model.js';
import { resolvers } from './resolvers.js';

export { createUsersService, resolveJwtSecret } from './service.js';
export { passwordChecks } from './passwords.js';

/** The users domain as the composition root sees it. */
export const usersModule = {
  name: 'users',
  indexedModels: [User],
  resolvers,
} satisfies DomainModule;
