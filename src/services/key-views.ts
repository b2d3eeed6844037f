/**
 * Mapping loaded keys and verification records to the wire shapes (KeyResponseData, verify data). Absent
 * values are omitted, never null, because Unkey's SDK rejects null in optional fields.
 */
import type { VerificationRecord } from "../lib/record";
import type { CreditState } from "../lib/usage";
import type { Decision } from "../lib/verify";
import { parseMeta, toRatelimitConfig, toVerificationRecord, type KeyBundle } from "./key-bundles";

export type KeyView = {
  keyId: string;
  start: string;
  enabled: boolean;
  createdAt: number;
  name?: string;
  meta?: Record<string, unknown>;
  updatedAt?: number;
  lastUsedAt?: number;
  expires?: number;
  permissions: string[];
  roles: string[];
  credits?: { remaining: number | null; refill?: { interval: "daily" | "monthly"; amount: number; refillDay?: number } };
  identity?: IdentityView;
  ratelimits?: ReturnType<typeof toRatelimitConfig>[];
  /** Only for `decrypt: true` on a recoverable key of an API that stores encrypted keys. */
  plaintext?: string;
};

export type IdentityView = {
  id: string;
  externalId: string;
  meta?: Record<string, unknown>;
  ratelimits?: ReturnType<typeof toRatelimitConfig>[];
};

/**
 * `credits` overrides the D1 mirror with the key's true balance, where the caller has it; `plaintext` is
 * the decrypted key, where the caller asked for it and the key has an encrypted copy.
 */
export function toKeyView(b: KeyBundle, credits?: CreditState | null, plaintext?: string): KeyView {
  const k = b.key;
  const record = toVerificationRecord(b);
  const view: KeyView = {
    keyId: k.id,
    start: k.start,
    enabled: k.enabled,
    createdAt: k.createdAt,
    permissions: b.permissions,
    roles: b.roles,
  };
  if (k.name !== null) view.name = k.name;
  const meta = parseMeta(k.meta);
  if (meta) view.meta = meta;
  if (k.updatedAt !== null) view.updatedAt = k.updatedAt;
  if (k.lastUsedAt !== null) view.lastUsedAt = k.lastUsedAt;
  if (k.expires !== null) view.expires = k.expires;
  const balance = credits === undefined ? record?.credits : credits;
  if (balance) view.credits = creditsView(balance);
  if (record?.identity) view.identity = identityView(record.identity);
  if (b.keyRatelimits.length > 0) view.ratelimits = b.keyRatelimits.map(toRatelimitConfig);
  if (plaintext !== undefined) view.plaintext = plaintext;
  return view;
}

function identityView(identity: NonNullable<VerificationRecord["identity"]>): IdentityView {
  const view: IdentityView = { id: identity.id, externalId: identity.externalId };
  if (identity.meta) view.meta = identity.meta;
  if (identity.ratelimits.length > 0) view.ratelimits = identity.ratelimits;
  return view;
}

export type VerifyView = {
  valid: boolean;
  code: "VALID" | Exclude<Decision, { valid: true }>["code"];
  keyId?: string;
  name?: string;
  meta?: Record<string, unknown>;
  expires?: number;
  credits?: number;
  enabled?: boolean;
  permissions?: string[];
  roles?: string[];
  identity?: IdentityView;
  ratelimits?: Array<{
    exceeded: boolean;
    id: string;
    name: string;
    limit: number;
    duration: number;
    reset: number;
    remaining: number;
    autoApply: boolean;
  }>;
};

/** The wire shape of a balance: `refill.interval` is monthly exactly when a refill day is set. */
export function creditsView(state: CreditState | null): { remaining: number | null; refill?: { interval: "daily" | "monthly"; amount: number; refillDay?: number } } {
  if (!state) return { remaining: null };
  if (!state.refill) return { remaining: state.remaining };
  const refill = state.refill.refillDay !== undefined
    ? { interval: "monthly" as const, amount: state.refill.amount, refillDay: state.refill.refillDay }
    : { interval: "daily" as const, amount: state.refill.amount };
  return { remaining: state.remaining, refill };
}

/** A NOT_FOUND carries nothing about the key (it may exist elsewhere); other outcomes describe it. */
export function toVerifyView(record: VerificationRecord | null, decision: Decision): VerifyView {
  if (!decision.valid && decision.code === "NOT_FOUND") return { valid: false, code: "NOT_FOUND" };
  if (!record) return { valid: false, code: "NOT_FOUND" };
  const view: VerifyView = {
    valid: decision.valid,
    code: decision.valid ? "VALID" : decision.code,
    keyId: record.keyId,
    enabled: record.enabled,
    permissions: record.permissions,
    roles: record.roles,
  };
  if (record.name !== undefined) view.name = record.name;
  if (record.meta !== undefined) view.meta = record.meta;
  if (record.expires !== undefined) view.expires = record.expires;
  if (record.credits !== undefined) view.credits = record.credits.remaining;
  if (record.identity !== undefined) view.identity = identityView(record.identity);
  return view;
}
