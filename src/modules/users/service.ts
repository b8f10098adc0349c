import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { InvalidFieldError, normalizeEmail, normalizeName } from '../customers/index.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import { ApiKey, User, type ApiKeyDoc, type Role, type UserDoc } from './model.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import { AuthConfigError } from './secret.js';

/** Who is calling: resolved from a bearer token on every request (HTTP) or connection (WebSocket). */
export type Viewer = { userId: string; role: Role; expiresAt: Date };

const TOKEN_LIFETIME_S = 60 * 60;
const API_KEY_PREFIX = 'pcrm_';
/**
 * A verified token's viewer is reused this long, so a request costs no user lookup. Changes to
 * a user clear its entries at once in this process; other processes see them within this time.
 */
const VIEWER_CACHE_MS = 5_000;
const VIEWER_CACHE_MAX = 10_000;
const MIN_PASSWORD = 10;
const DEV_ADMIN = { email: 'admin@example.com', password: 'admin' };

const tooShortPassword = () => problem(['input', 'password'], `at least ${MIN_PASSWORD} characters`, 'INVALID');

/** The result of changing a user: the user as it is now, or why not. */
type UserChange = { user: UserDoc; problems?: undefined } | { user?: undefined; problems: FieldProblem[] };

export type UsersService = ReturnType<typeof createUsersService>;

export function createUsersService(deps: { clock: Clock; logger: Logger; secret: Uint8Array }) {
  const { clock } = deps;

  async function issueToken(user: UserDoc): Promise<{ token: string; expiresAt: Date }> {
    // Token lifetimes follow the real time, not the injectable domain clock.
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ role: user.role, tv: user.tokenVersion ?? 0 })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user._id))
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_LIFETIME_S)
      .sign(deps.secret);
    return { token, expiresAt: new Date((now + TOKEN_LIFETIME_S) * 1000) };
  }

  /** Verified tokens' viewers, each for VIEWER_CACHE_MS (a change to its user forgets it at once). */
  const cache = new Map<string, { viewer: Viewer | null; until: number }>();

  /** A hash of a random password, computed once: what a sign-in for an unknown address checks. */
  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= hashPassword(randomBytes(16).toString('base64url')));

  // Verifications under way, by token: callers that ask at once (every socket of one token, on
  // each event or recheck) share one, so a lapsed cache entry costs one look-up, not one each.
  const verifying = new Map<string, Promise<Viewer | null>>();

  /** Moves on with every forgotten user: a verification begun before it is not cached. */
  let forgotten = 0;

  function forgetUser(userId: string): void {
    forgotten++;
    verifying.clear();
    for (const [token, entry] of cache) if (entry.viewer?.userId === userId) cache.delete(token);
  }

  /** The viewer of a token as verified less than VIEWER_CACHE_MS ago; undefined when not known now. */
  function cachedViewerOf(token: string): Viewer | null | undefined {
    const cached = cache.get(token);
    const left = (cached?.until ?? 0) - Date.now();
    if (!cached || left <= 0) return undefined;
    // Verified again in the background once half its time is gone: a token in steady use (a
    // socket's events, a client's requests) never lapses to a look-up that its callers wait for.
    if (left < VIEWER_CACHE_MS / 2) verifyAndCache(token).catch(() => undefined);
    return cached.viewer;
  }

  /**
   * The viewer a bearer token stands for, or null when it is not a valid, unexpired token of an
   * active user. The role is read from the user, so a role change applies to existing tokens.
   */
  function viewerFromToken(token: string): Promise<Viewer | null> {
    const cached = cachedViewerOf(token);
    return cached !== undefined ? Promise.resolve(cached) : verifyAndCache(token);
  }

  function verifyAndCache(token: string): Promise<Viewer | null> {
    const pending = verifying.get(token);
    if (pending) return pending;
    const generation = forgotten;
    const lookup = verifyToken(token)
      .then((viewer) => {
        if (generation !== forgotten) return viewer;
        if (cache.size >= VIEWER_CACHE_MAX) cache.clear();
        cache.set(token, { viewer, until: Date.now() + VIEWER_CACHE_MS });
        return viewer;
      })
      .finally(() => {
        if (verifying.get(token) === lookup) verifying.delete(token);
      });
    verifying.set(token, lookup);
    return lookup;
  }

  async function verifyToken(token: string): Promise<Viewer | null> {
    if (token.startsWith(API_KEY_PREFIX)) return verifyApiKey(token);
    try {
      const { payload } = await jwtVerify(token, deps.secret, { algorithms: ['HS256'] });
      const userId = payload.sub ? objectIdOrNull(payload.sub) : null;
      if (!userId || typeof payload.exp !== 'number') return null;
      const user = await User.findById(userId).lean<UserDoc>();
      if (!user?.isActive) return null;
      // A password change moves the version on: tokens issued before it end.
      if ((payload.tv ?? 0) !== (user.tokenVersion ?? 0)) return null;
      return { userId: String(user._id), role: user.role, expiresAt: new Date(payload.exp * 1000) };
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }

  async function login(
    emailText: string,
    password: string,
  ): Promise<{ user: UserDoc; token: string; expiresAt: Date } | { problems: FieldProblem[] }> {
    const wrong = problem(null, 'wrong email or password', 'INVALID_CREDENTIALS');
    let email: string;
    try {
      email = normalizeEmail(emailText);
    } catch {
      return wrong;
    }
    const user = await User.findOne({ email }).lean<UserDoc>();
    if (!user || !user.isActive) {
      // The same work as for a known address, so the answer's timing tells nothing.
      await verifyPassword(password, await dummyHash());
      return wrong;
    }
    if (!(await verifyPassword(password, user.passwordHash))) return wrong;
    const now = clock.now();
    await User.updateOne({ _id: user._id }, { $set: { lastLoginAt: now } });
    return { user: { ...user, lastLoginAt: now }, ...(await issueToken(user)) };
  }

  async function createUser(input: {
    email: string;
    name: string;
    role: Role;
    password: string;
  }): Promise<{ user: UserDoc } | { problems: FieldProblem[] }> {
    let email: string, name: string;
    try {
      email = normalizeEmail(input.email);
      name = normalizeName(input.name);
    } catch (err) {
      if (err instanceof InvalidFieldError) return problem(['input', err.field], err.message, 'INVALID');
      throw err;
    }
    if (input.password.length < MIN_PASSWORD) return tooShortPassword();
    const doc: UserDoc = {
      _id: new Types.ObjectId(),
      email,
      name,
      role: input.role,
      passwordHash: await hashPassword(input.password),
      isActive: true,
      createdAt: clock.now(),
    };
    try {
      await User.collection.insertOne(doc);
    } catch (err) {
      if (isDuplicateKeyError(err)) return problem(['input', 'email'], 'another user has this email', 'DUPLICATE');
      throw err;
    }
    return { user: doc };
  }

  async function updateUser(
    id: string,
    input: { name?: string | null; role?: Role | null; password?: string | null },
  ): Promise<UserChange> {
    const _id = objectIdOrNull(id);
    if (!_id) return notFound('user');
    const set: Partial<UserDoc> = {};
    if (input.name != null) {
      try {
        set.name = normalizeName(input.name);
      } catch (err) {
        if (err instanceof InvalidFieldError) return problem(['input', 'name'], err.message, 'INVALID');
        throw err;
      }
    }
    if (input.role != null) set.role = input.role;
    if (input.password != null) {
      if (input.password.length < MIN_PASSWORD) return tooShortPassword();
      set.passwordHash = await hashPassword(input.password);
    }
    // A new password ends every token issued before it.
    return setUserFields(_id, set, input.password != null ? { tokenVersion: 1 } : undefined);
  }

  /** Applies a change to a user and forgets its cached tokens, so the change holds at once. */
  async function setUserFields(
    _id: Types.ObjectId,
    set: Partial<UserDoc>,
    inc?: { tokenVersion: 1 },
  ): Promise<UserChange> {
    const user = await User.findOneAndUpdate(
      { _id },
      { $set: set, ...(inc ? { $inc: inc } : {}) },
      { returnDocument: 'after' },
    ).lean<UserDoc>();
    forgetUser(String(_id));
    return user ? { user } : notFound('user');
  }

  async function deactivateUser(id: string): Promise<UserChange> {
    const _id = objectIdOrNull(id);
    return _id ? setUserFields(_id, { isActive: false }) : notFound('user');
  }

  /**
   * On an empty user collection, the first ADMIN: from CRM_ADMIN_EMAIL/CRM_ADMIN_PASSWORD, or in
   * development only, with a loud warning, admin@example.com / admin. Production refuses to
   * start without explicit credentials.
   */
  async function bootstrapAdminIfNeeded(opts: {
    email?: string | undefined;
    password?: string | undefined;
    isProduction: boolean;
  }): Promise<void> {
    if (await User.exists({})) return;
    if ((!opts.email || !opts.password) && opts.isProduction) {
      throw new AuthConfigError(
        'CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD are required in production to create the first admin.',
      );
    }
    const email = opts.email ?? DEV_ADMIN.email;
    const password = opts.password ?? DEV_ADMIN.password;
    if (!opts.email || !opts.password) {
      deps.logger.warn(
        { email },
        `DEVELOPMENT ONLY: created the admin ${email} with password "${password}". Set CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD for anything else.`,
      );
    }
    const doc: UserDoc = {
      _id: new Types.ObjectId(),
      email: normalizeEmail(email),
      name: 'Administrator',
      role: 'ADMIN',
      passwordHash: await hashPassword(password),
      isActive: true,
      createdAt: clock.now(),
    };
    await User.collection.insertOne(doc).catch((err: unknown) => {
      if (!isDuplicateKeyError(err)) throw err; // another instance bootstrapped first
    });
  }

  /** `pcrm_<id>_<secret>`: the id finds the key by `_id`, the secret is compared by hash. */
  async function verifyApiKey(token: string): Promise<Viewer | null> {
    const [, id, secret] = /^pcrm_([0-9a-f]{24})_([A-Za-z0-9_-]{20,})$/.exec(token) ?? [];
    if (!id || !secret) return null;
    const key = await ApiKey.findById(id).lean<ApiKeyDoc>();
    if (!key || key.revokedAt) return null;
    const given = Buffer.from(createHash('sha256').update(secret).digest('hex'));
    const stored = Buffer.from(key.secretHash);
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return null;
    const now = clock.now();
    if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() > 60_000) {
      await ApiKey.updateOne({ _id: key._id }, { $set: { lastUsedAt: now } });
    }
    return { userId: `apikey:${id}`, role: key.role, expiresAt: new Date(8_640_000_000_000_000) };
  }

  async function createApiKey(input: {
    name: string;
    role: Role;
  }): Promise<{ apiKey: ApiKeyDoc; secret: string } | { problems: FieldProblem[] }> {
    let name: string;
    try {
      name = normalizeName(input.name);
    } catch (err) {
      if (err instanceof InvalidFieldError) return problem(['input', 'name'], err.message, 'INVALID');
      throw err;
    }
    const secret = randomBytes(24).toString('base64url');
    const apiKey: ApiKeyDoc = {
      _id: new Types.ObjectId(),
      name,
      role: input.role,
      secretHash: createHash('sha256').update(secret).digest('hex'),
      createdAt: clock.now(),
    };
    await ApiKey.collection.insertOne(apiKey);
    return { apiKey, secret: `${API_KEY_PREFIX}${String(apiKey._id)}_${secret}` };
  }

  async function revokeApiKey(id: string): Promise<ApiKeyDoc | null> {
    const _id = objectIdOrNull(id);
    if (!_id) return null;
    const key = await ApiKey.findOneAndUpdate(
      { _id },
      { $set: { revokedAt: clock.now() } },
      { returnDocument: 'after' },
    ).lean<ApiKeyDoc>();
    forgetUser(`apikey:${id}`);
    return key;
  }

  const listApiKeys = () => ApiKey.find({}).sort({ createdAt: 1 }).lean<ApiKeyDoc[]>().exec();

  const list = () => User.find({}).sort({ createdAt: 1 }).lean<UserDoc[]>().exec();
  const findById = async (id: string) => {
    const _id = objectIdOrNull(id);
    return _id ? User.findById(_id).lean<UserDoc>().exec() : null;
  };

  return {
    issueToken,
    viewerFromToken,
    cachedViewerOf,
    login,
    createUser,
    updateUser,
    deactivateUser,
    bootstrapAdminIfNeeded,
    list,
    findById,
    createApiKey,
    revokeApiKey,
    listApiKeys,
  };
}
