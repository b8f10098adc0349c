import mongoose, { Schema, Types } from 'mongoose';

export const ROLES = ['ADMIN', 'SALES', 'MARKETING', 'SUPPORT', 'ANALYST'] as const;
export type Role = (typeof ROLES)[number];

export type UserDoc = {
  _id: Types.ObjectId;
  email: string;
  name: string;
  role: Role;
  /** scrypt, self-describing: `scrypt$N$r$p$salt$hash` (base64url). */
  passwordHash: string;
  isActive: boolean;
  /** Moved on by a password change: tokens carry the version they were issued under. */
  tokenVersion?: number;
  createdAt: Date;
  lastLoginAt?: Date | null;
};

const userSchema = new Schema<UserDoc>(
  {
    email: { type: String, required: true },
    name: { type: String, required: true },
    role: { type: String, enum: ROLES, required: true },
    passwordHash: { type: String, required: true },
    isActive: { type: Boolean, required: true, default: true },
    tokenVersion: { type: Number, default: 0 },
    createdAt: { type: Date, required: true },
    lastLoginAt: { type: Date },
  },
  { versionKey: false, collection: 'users' },
);
userSchema.index({ email: 1 }, { unique: true });

export const User = mongoose.model<UserDoc>('User', userSchema);

export type ApiKeyDoc = {
  _id: Types.ObjectId;
  name: string;
  role: Role;
  /** SHA-256 of the random secret: API keys are high-entropy, so a fast hash is enough. */
  secretHash: string;
  createdAt: Date;
  lastUsedAt?: Date | null;
  revokedAt?: Date | null;
};

export const ApiKey = mongoose.model<ApiKeyDoc>(
  'ApiKey',
  new Schema<ApiKeyDoc>(
    {
      name: { type: String, required: true },
      role: { type: String, enum: ROLES, required: true },
      secretHash: { type: String, required: true },
      createdAt: { type: Date, required: true },
      lastUsedAt: { type: Date },
      revokedAt: { type: Date },
    },
    { versionKey: false, collection: 'api_keys' },
  ),
);
