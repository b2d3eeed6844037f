import { ipAllowed } from "./cidr";
import type { VerificationRecord } from "./record";
import { evaluatePermissionQuery, type PermissionQuery } from "./permission-query";
import { grantsFor, hasAny } from "./root-permissions";

export const VERIFY_CODES = [
  "VALID",
  "NOT_FOUND",
  "FORBIDDEN",
  "INSUFFICIENT_PERMISSIONS",
  "USAGE_EXCEEDED",
  "RATE_LIMITED",
  "DISABLED",
  "EXPIRED",
] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** Who asks: the root key's workspace and its permissions. */
export type Principal = { keyId: string; workspaceId: string; permissions: ReadonlySet<string> };

export type Decision = { valid: true } | { valid: false; code: Exclude<VerifyCode, "VALID"> };

/** A key with `expires` is expired from that millisecond on, so `expires = now` is refused at once. */
export function isExpired(expires: number | undefined, now: number): boolean {
  return expires !== undefined && now >= expires;
}

/**
 * The pure verification decision, in Unkey's order: not found (missing, deleted, another workspace's, or a
 * root key without `verify_key` on its API, which must look the same so existence does not leak) → disabled
 * → expired → the API's IP allow-list (`callerIp`, the verify request's `CF-Connecting-IP`) → the permission
 * query (`required`, exact slugs, direct and through roles). Limits and credits are applied after this, by
 * the key's Durable Object.
 *
 * The allow-list fails closed: with one configured, a missing or unparsable caller address is FORBIDDEN.
 */
export function decideVerification(
  record: VerificationRecord | null,
  principal: Pick<Principal, "workspaceId" | "permissions">,
  now: number,
  required?: PermissionQuery,
  callerIp?: string | null,
): Decision {
  if (!record || !record.apiId || record.workspaceId !== principal.workspaceId) {
    return { valid: false, code: "NOT_FOUND" };
  }
  if (!hasAny(principal.permissions, grantsFor("api", "verify_key", record.apiId))) {
    return { valid: false, code: "NOT_FOUND" };
  }
  if (!record.enabled) return { valid: false, code: "DISABLED" };
  if (isExpired(record.expires, now)) return { valid: false, code: "EXPIRED" };
  if (record.ipWhitelist !== undefined && !ipAllowed(callerIp, record.ipWhitelist)) return { valid: false, code: "FORBIDDEN" };
  if (required && !evaluatePermissionQuery(required, new Set(record.permissions)).ok) {
    return { valid: false, code: "INSUFFICIENT_PERMISSIONS" };
  }
  return { valid: true };
}

/** A root key is usable if it is live and administers a workspace; anything else is "unknown" (401). */
export function decideRootKey(record: VerificationRecord | null, now: number): Principal | null {
  if (!record || !record.forWorkspaceId || !record.enabled || isExpired(record.expires, now)) return null;
  return { keyId: record.keyId, workspaceId: record.forWorkspaceId, permissions: new Set(record.permissions) };
}
