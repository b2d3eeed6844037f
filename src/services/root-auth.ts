/**
 * Root-key authentication: `Authorization: Bearer <rootKey>` → hash → the same record store verify uses →
 * principal `{workspaceId, permissions}`. Unknown, disabled, expired or non-root keys are all the same 401,
 * so the answer does not reveal which keys exist.
 */
import { ApiError } from "../lib/errors";
import { hashKey } from "../lib/hash";
import { MAX_KEY_LENGTH } from "../lib/keys";
import { hasAny } from "../lib/root-permissions";
import { decideRootKey, type Principal } from "../lib/verify";
import type { EdgeRecords } from "./edge-records";

export async function authenticateRootKey(header: string | undefined, edge: EdgeRecords, now: () => number): Promise<Principal> {
  if (header === undefined || header.trim() === "") {
    throw new ApiError("AUTH_MISSING", "The Authorization header is missing. Send `Authorization: Bearer <rootKey>`.", [
      { location: "header.authorization", message: "required" },
    ]);
  }
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  if (!match || match[1]!.length > MAX_KEY_LENGTH) {
    throw new ApiError("AUTH_MALFORMED", "The Authorization header is malformed. Use the format `Bearer <rootKey>`.", [
      { location: "header.authorization", message: "expected `Bearer <rootKey>`" },
    ]);
  }
  const record = await edge.lookup(await hashKey(match[1]!));
  const principal = decideRootKey(record, now());
  if (!principal) throw new ApiError("AUTH_KEY_NOT_FOUND", "The root key is invalid, revoked or unknown.");
  return principal;
}

/** Throws 403 unless the principal holds one of `wanted`; the message names what would grant access. */
export function requirePermission(principal: Principal, wanted: readonly string[]): void {
  if (!hasAny(principal.permissions, wanted)) {
    throw new ApiError("INSUFFICIENT_PERMISSIONS", `This root key needs one of these permissions: ${wanted.join(", ")}.`);
  }
}
