/**
 * Leaked-key revocation: GitHub's secret-scanning partner alerts (`github.secretScanning`). GitHub signs
 * each alert batch with ECDSA P-256 over the raw body; the public keys are configuration
 * (`GITHUB_SECRET_SCANNING_KEYS`, GitHub's `{public_keys:[…]}` JSON), empty = the endpoint is disabled.
 *
 * A token is found by its hash in every workspace (the token is the secret: whoever holds it may report
 * it), and what happens to it follows its API's `leakedKeyAction`: "revoke" (soft delete, the default) or
 * "disable". Root keys are always revoked: a leaked admin credential has no safe "disabled" state worth
 * keeping, and nobody could re-enable it through the API anyway. Both go through the same KeyService /
 * RootKeyService paths as the API's own deletes, so verifies and root-key checks see it at once.
 *
 * Audit: the revocations are the ordinary `key.delete` / `key.update` / `rootKey.delete` events of the key's
 * workspace, with the actor `system:github_secret_scanning` and `meta {reason: "leaked", url, source}` naming
 * where it leaked (redacted like any outside text).
 *
 * Security: nothing is parsed or looked up before the signature verifies over exactly the bytes received;
 * a forged, unsigned or unknown-key alert changes nothing. The reply is GitHub's format and says only
 * whether each token is (or was) one of our keys. Replaying a genuine alert only revokes keys that did leak.
 */
import { eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { apis, keys } from "../db/schema";
import type { AuditContext } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { alertReply, parseAlerts, parseGithubPublicKeys, verifyGithubSignature, type AlertReply } from "../lib/github-alerts";
import { hashKey } from "../lib/hash";
import type { KeyService } from "./keys";
import { logFailure } from "./key-state-client";
import { chunks } from "./rbac-core";
import type { RootKeyService } from "./root-keys";

/** The Worker variable holding GitHub's public keys. */
export const GITHUB_KEYS_VAR = "GITHUB_SECRET_SCANNING_KEYS";
/** Who the audit log names for a revocation made here. */
export const LEAK_ACTOR = { type: "system", id: "github_secret_scanning" } as const;

export type SignedRequest = {
  /** The request body exactly as received. */
  body: string;
  keyIdentifier: string | undefined;
  signature: string | undefined;
};

/** Where the report came from, for the audit events of the revocations. */
export type LeakReportContext = { requestId: string; remoteIp?: string | null | undefined; userAgent?: string | null | undefined };

type Match = {
  id: string;
  workspaceId: string;
  forWorkspaceId: string | null;
  deleted: boolean;
  apiDeleted: boolean;
  action: string | null;
};

export type LeakServiceOptions = { db: Db; keys: KeyService; rootKeys: RootKeyService; publicKeys: string };

export class LeakService {
  constructor(private readonly o: LeakServiceOptions) {}

  /**
   * 400 without the signature headers, 412 while no public keys are configured (or they do not parse), 401
   * unless the signature is by a configured key and covers exactly `body`.
   */
  async authenticate(req: SignedRequest): Promise<void> {
    const missing = [
      ["header.github-public-key-identifier", req.keyIdentifier],
      ["header.github-public-key-signature", req.signature],
    ].filter(([, v]) => !v);
    if (missing.length > 0) {
      throw new ApiError(
        "AUTH_MISSING",
        "A secret-scanning alert must carry GitHub's Github-Public-Key-Identifier and Github-Public-Key-Signature headers.",
        missing.map(([location]) => ({ location: location!, message: "required" })),
      );
    }
    const config = this.o.publicKeys.trim();
    if (config === "") {
      throw new ApiError("PRECONDITION_FAILED", `Leaked-key reports are disabled: ${GITHUB_KEYS_VAR} is not set.`);
    }
    const parsed = parseGithubPublicKeys(config);
    if (!parsed.ok) {
      logFailure(`${GITHUB_KEYS_VAR} does not parse; leaked-key reports are refused`, {}, parsed.error);
      throw new ApiError("PRECONDITION_FAILED", `Leaked-key reports are disabled: ${GITHUB_KEYS_VAR} is invalid (${parsed.error}).`);
    }
    const ok = await verifyGithubSignature({ body: req.body, keyIdentifier: req.keyIdentifier, signature: req.signature, publicKeys: parsed.keys });
    if (!ok) throw new ApiError("AUTH_KEY_NOT_FOUND", "The alert's signature does not verify against a configured GitHub public key.");
  }

  /**
   * Acts on every live key the (authenticated) alerts name, once per key, and labels each alert: a token
   * whose hash is a stored key, live or already revoked, is a true positive.
   */
  async report(body: string, ctx: LeakReportContext): Promise<AlertReply[]> {
    const parsed = parseAlerts(body);
    if (!parsed.ok) throw new ApiError("INVALID_INPUT", `The alert body is invalid: ${parsed.error}.`, [{ location: "body", message: parsed.error }]);
    const hashOf = new Map<string, string>();
    for (const alert of parsed.alerts) if (!hashOf.has(alert.token)) hashOf.set(alert.token, await hashKey(alert.token));
    const matches = await this.find([...new Set(hashOf.values())]);
    const handled = new Set<string>();
    for (const alert of parsed.alerts) {
      const match = matches.get(hashOf.get(alert.token)!);
      if (!match || handled.has(match.id)) continue;
      handled.add(match.id);
      await this.neutralise(match, ctx, { reason: "leaked", url: alert.url, source: alert.source });
    }
    return alertReply(parsed.alerts.map((alert) => ({ alert, found: matches.has(hashOf.get(alert.token)!) })));
  }

  /** Every stored key (any workspace, deleted or not) with one of these hashes, by hash. */
  private async find(hashes: string[]): Promise<Map<string, Match>> {
    const { db } = this.o;
    const found = new Map<string, Match>();
    for (const part of chunks(hashes)) {
      const rows = await db
        .select({
          id: keys.id,
          hash: keys.hash,
          workspaceId: keys.workspaceId,
          forWorkspaceId: keys.forWorkspaceId,
          deletedAt: keys.deletedAt,
          apiDeletedAt: sql<number | null>`${apis.deletedAt}`.as("api_deleted_at"),
          action: apis.leakedKeyAction,
        })
        .from(keys)
        .leftJoin(apis, eq(apis.keyspaceId, keys.keyspaceId))
        .where(inArray(keys.hash, part));
      for (const r of rows) {
        found.set(r.hash, {
          id: r.id,
          workspaceId: r.workspaceId,
          forWorkspaceId: r.forWorkspaceId,
          deleted: r.deletedAt !== null,
          apiDeleted: r.apiDeletedAt !== null,
          action: r.action,
        });
      }
    }
    return found;
  }

  /** Revokes or disables one key; a key that is already gone (or already disabled) is left as it is. */
  private async neutralise(match: Match, ctx: LeakReportContext, leak: Record<string, string>): Promise<void> {
    if (match.deleted || match.apiDeleted) return;
    // A root key's events go to the log of the workspace it administers, like rootKeys.deleteRootKey's.
    const audit = leakAuditContext(match.forWorkspaceId ?? match.workspaceId, ctx, leak);
    if (match.forWorkspaceId !== null) {
      try {
        await this.o.rootKeys.delete(match.id, audit);
      } catch (err) {
        // Deleted concurrently: it is gone, which is what was wanted.
        if (!(err instanceof ApiError && err.code === "KEY_NOT_FOUND")) throw err;
      }
      return;
    }
    let bundle;
    try {
      bundle = await this.o.keys.find(match.workspaceId, match.id);
    } catch (err) {
      if (err instanceof ApiError && err.code === "KEY_NOT_FOUND") return;
      throw err;
    }
    if (match.action === "disable") {
      if (bundle.key.enabled) await this.o.keys.update(bundle, { enabled: false }, audit);
    } else {
      await this.o.keys.delete(bundle, false, audit);
    }
  }
}

/** The audit context of a revocation made for an alert: the system actor, in the key's workspace. */
/** The audit context of a revocation by leak report: its events name where the key leaked (`meta`). */
export function leakAuditContext(workspaceId: string, ctx: LeakReportContext, leak: Record<string, string>): AuditContext {
  return { workspaceId, actor: LEAK_ACTOR, requestId: ctx.requestId, remoteIp: ctx.remoteIp ?? null, userAgent: ctx.userAgent ?? null, meta: leak };
}
