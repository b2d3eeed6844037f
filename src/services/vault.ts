/**
 * The vault's I/O: KEKs from the `VAULT_MASTER_KEYS` secret, one wrapped DEK per workspace in `vault_deks`,
 * encrypted copies of recoverable keys in `encrypted_keys`. The crypto itself is `src/lib/vault.ts`.
 *
 * Failure is loud and safe. A missing or malformed secret is a 412 that says so; stored vault data that
 * cannot be used (a DEK wrapped by a KEK no longer configured, a ciphertext that fails authentication, a
 * DEK that is not there) is a 500 that names the problem. Messages carry ids at most, never key material or
 * plaintext, and nothing ever falls back to storing or returning a key unencrypted. Verification never
 * comes here, so a broken vault cannot break a verify.
 *
 * Audit: every plaintext handed out is a `key.decrypt` event, appended to the workspace's log after the
 * decryption and before `reveal` returns; if it cannot be stored, nothing is returned (503). Every DEK
 * re-wrapped is a `vault.rewrap` event in the log of the DEK's workspace (the actor is the operator's root
 * key), in the batch of the compare-and-set that re-wraps it.
 */
import { and, asc, count, eq, gt, inArray, ne, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { encryptedKeys, vaultDeks } from "../db/schema";
import type { AuditContext } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { TtlLru } from "../lib/lru";
import {
  decryptKey,
  encryptKey,
  generateDek,
  loadMasterKeys,
  rewrapDek,
  unwrapDek,
  wrapDek,
  type KekRing,
  type VaultError,
  type VaultResult,
} from "../lib/vault";
import type { AuditService } from "./audit";
import { chunk } from "../lib/chunk";

type Dek = { id: string; key: CryptoKey };
type Ring = { kek: KekRing; deks: TtlLru<Dek> };

// Isolate-lifetime state, kept here rather than in services/cache.ts because it is the vault's alone.
// Importing the KEKs costs a WebCrypto call per KEK and unwrapping a DEK one more, so an isolate does each
// once per secret value and workspace, not on every request. Rings are keyed by the secret's value: a new
// secret (a rotation step, or a test with other KEKs) gets a fresh ring with an empty DEK cache, so a DEK
// unwrapped under a KEK that has since been removed is never used again. DEK bytes never change for a DEK
// id (re-wrapping changes only the wrapping), so a cached DEK cannot go stale; the TTL only bounds memory.
const rings = new Map<string, Promise<VaultResult<Ring>>>();
const MAX_RINGS = 4;
const DEK_CACHE_ENTRIES = 1_000;
const DEK_CACHE_TTL_MS = 60 * 60_000;

/** D1 binds at most 100 parameters per statement; key ids go 90 at a time next to the workspace id. */
const IDS_PER_QUERY = 90;

export type VaultServiceOptions = { db: Db; secret: string | undefined; audit: AuditService; now: () => number };
/**
 * Who asked for a decryption, for the record of it: the request's audit context, or (the older form some
 * callers still pass) the root key id and request id only, which records the event without IP or user agent.
 */
export type DecryptAudit = AuditContext | { actor: string; requestId: string };
export type RewrapFailure = { dekId: string; code: VaultError["code"]; message: string };
export type RewrapPage = {
  primaryKekId: string;
  rewrapped: number;
  failed: RewrapFailure[];
  /** DEKs still wrapped by another KEK after this page (failed ones and those on later pages). */
  remaining: number;
  cursor?: string;
};

type Stmt = BatchItem<"sqlite">;

export class VaultService {
  constructor(private readonly o: VaultServiceOptions) {}

  /** Throws the vault's 412 unless `VAULT_MASTER_KEYS` parses: APIs may only opt in to a working vault. */
  async requireConfigured(): Promise<void> {
    await this.ring();
  }

  /**
   * Encrypts a new key's plaintext for its workspace, creating the workspace's DEK on first use. Returns
   * the `encrypted_keys` row for the caller to insert in the same batch as the key, so a key never exists
   * without its ciphertext; any failure throws before the caller has written anything.
   */
  async encrypt(workspaceId: string, keyId: string, plaintext: string): Promise<typeof encryptedKeys.$inferInsert> {
    const ring = await this.ring();
    const dek = await this.workspaceDek(ring, workspaceId, { create: true });
    if (!dek) throw new ApiError("INTERNAL", "The vault could not create a data key for this workspace. Retry the request.");
    const ciphertext = await encryptKey(plaintext, dek.key, dek.id, { workspaceId, keyId });
    return { keyId, workspaceId, ciphertext, dekId: dek.id, createdAt: this.o.now() };
  }

  /** Whether the key has an encrypted copy (rerolling such a key keeps the new one recoverable). */
  async hasCopy(workspaceId: string, keyId: string): Promise<boolean> {
    const rows = await this.o.db
      .select({ keyId: encryptedKeys.keyId })
      .from(encryptedKeys)
      .where(and(eq(encryptedKeys.workspaceId, workspaceId), eq(encryptedKeys.keyId, keyId)))
      .limit(1);
    return rows.length > 0;
  }

  /** The statement that removes a key's encrypted copy, for the batch that removes the key. */
  deleteCopy(workspaceId: string, keyId: string): Stmt {
    return this.o.db.delete(encryptedKeys).where(and(eq(encryptedKeys.workspaceId, workspaceId), eq(encryptedKeys.keyId, keyId)));
  }

  /**
   * Decrypts the encrypted copies of these keys of the workspace: key id → plaintext. Keys without a copy
   * are simply absent. Any copy that cannot be decrypted fails the whole call (no partial answer that
   * would hide the problem). Every plaintext returned is first recorded as one `key.decrypt` audit event:
   * if the events cannot be stored, this throws `AuditWriteError` (503) and no plaintext leaves.
   */
  async reveal(workspaceId: string, keyIds: readonly string[], audit: DecryptAudit): Promise<Map<string, string>> {
    const ring = await this.ring();
    const out = new Map<string, string>();
    if (keyIds.length === 0) return out;
    const rows = await this.loadCopies(workspaceId, keyIds);
    if (rows.length === 0) return out;
    const dek = await this.workspaceDek(ring, workspaceId, { create: false });
    const deks = new Map(dek ? [[dek.id, dek.key]] : []);
    for (const row of rows) {
      const result = await decryptKey(row.ciphertext, deks, { workspaceId, keyId: row.keyId });
      if (!result.ok) throw this.failure(result.error, { workspaceId, keyId: row.keyId, requestId: audit.requestId });
      out.set(row.keyId, result.value);
    }
    // Recorded once everything decrypted, so each event stands for a plaintext that is handed out.
    const ctx: AuditContext =
      typeof audit.actor === "string" ? { workspaceId, actor: { type: "rootkey", id: audit.actor }, requestId: audit.requestId } : { ...(audit as AuditContext), workspaceId };
    await this.o.audit.record(ctx, [...out.keys()].map((keyId) => ({ event: "key.decrypt" as const, resources: [{ type: "key" as const, id: keyId }] })));
    // Also one structured log line per plaintext, for log pipelines that watch decryptions.
    for (const keyId of out.keys()) {
      console.log(JSON.stringify({ level: "info", msg: "key.decrypt", workspaceId, keyId, actor: ctx.actor.id, requestId: ctx.requestId }));
    }
    return out;
  }

  /**
   * KEK rotation, one page: every DEK not yet wrapped by the primary KEK (the first in `VAULT_MASTER_KEYS`)
   * is unwrapped with whichever configured KEK wraps it and wrapped again by the primary. `workspaceId`
   * limits it to one workspace (a tenant's root key); without it (an operator's key, of the internal
   * workspace) it covers the deployment. The write is compare-and-set on the old wrapped text, so a
   * concurrent change is never overwritten (a later run picks it up). Re-running is harmless: finished DEKs
   * are not even read.
   */
  async rewrap(opts: { cursor?: string | undefined; limit: number; workspaceId?: string | undefined }, ctx: AuditContext): Promise<RewrapPage> {
    const { db } = this.o;
    const ring = await this.ring();
    const primaryKekId = ring.kek.primaryId;
    const now = this.o.now();
    const pending = and(ne(vaultDeks.kekId, primaryKekId), opts.workspaceId !== undefined ? eq(vaultDeks.workspaceId, opts.workspaceId) : undefined);
    const rows = await db
      .select()
      .from(vaultDeks)
      .where(and(pending, opts.cursor !== undefined ? gt(vaultDeks.id, opts.cursor) : undefined))
      .orderBy(asc(vaultDeks.id))
      .limit(opts.limit + 1);
    const more = rows.length > opts.limit;
    const page = more ? rows.slice(0, opts.limit) : rows;
    const failed: RewrapFailure[] = [];
    const stmts: Stmt[] = [];
    const events: Stmt[] = [];
    for (const row of page) {
      const result = await rewrapDek(row.wrapped, ring.kek, { workspaceId: row.workspaceId, dekId: row.id });
      if (!result.ok) {
        failed.push({ dekId: row.id, code: result.error.code, message: result.error.message });
        logVault("error", "vault.rewrap_failed", { dekId: row.id, code: result.error.code, message: result.error.message });
        continue;
      }
      // `changed: false` only fixes a kek_id column that disagreed with the wrapped text.
      const { wrapped, kekId, changed } = result.value;
      stmts.push(
        db
          .update(vaultDeks)
          .set({ wrapped, kekId, updatedAt: now })
          .where(and(eq(vaultDeks.id, row.id), eq(vaultDeks.workspaceId, row.workspaceId), eq(vaultDeks.wrapped, row.wrapped)))
          .returning({ id: vaultDeks.id }),
      );
      // Recorded in the DEK's workspace, only if the compare-and-set above wrote the row.
      const entry = { event: "vault.rewrap" as const, resources: [{ type: "workspace" as const, id: row.workspaceId }], meta: { dekId: row.id, rewrapped: changed }, args: [row.id] };
      const wrote = ([id]: unknown[]) => sql`EXISTS (SELECT 1 FROM ${vaultDeks} WHERE ${vaultDeks.id} = ${id} AND ${vaultDeks.wrapped} = ${wrapped} AND ${vaultDeks.kekId} = ${kekId})`;
      events.push(...this.o.audit.stage({ ...ctx, workspaceId: row.workspaceId }, [entry], wrote));
    }
    const written = stmts.length > 0 ? await db.batch([...stmts, ...events] as [Stmt, ...Stmt[]]) : [];
    const rewrapped = written.slice(0, stmts.length).filter((rows) => Array.isArray(rows) && rows.length > 0).length;
    const [left] = await db.select({ n: count() }).from(vaultDeks).where(pending);
    const result: RewrapPage = { primaryKekId, rewrapped, failed, remaining: left?.n ?? 0 };
    const last = page[page.length - 1];
    if (more && last) result.cursor = last.id;
    return result;
  }

  // ---- internals ----

  /** The isolate's ring for the current secret; the vault's 412 if the secret is missing or malformed. */
  private async ring(): Promise<Ring> {
    const secret = this.o.secret ?? "";
    let entry = rings.get(secret);
    if (!entry) {
      entry = loadMasterKeys(secret).then(
        (r): VaultResult<Ring> => (r.ok ? { ok: true, value: { kek: r.value, deks: new TtlLru<Dek>(DEK_CACHE_ENTRIES, DEK_CACHE_TTL_MS) } } : r),
      );
      // Only the outcome of parsing is cached; an unexpected exception is retried by the next request.
      entry.catch(() => rings.delete(secret));
      if (rings.size >= MAX_RINGS) rings.delete(rings.keys().next().value!);
      rings.set(secret, entry);
    }
    const result = await entry;
    if (!result.ok) throw this.failure(result.error, {});
    return result.value;
  }

  /**
   * The workspace's DEK, unwrapped. With `create`, a workspace without one gets one: the insert is
   * `ON CONFLICT(workspace_id) DO NOTHING` and the row is read back, so concurrent first uses agree on
   * whichever DEK won. Without `create`, undefined when the workspace has none.
   */
  private async workspaceDek(ring: Ring, workspaceId: string, opts: { create: boolean }): Promise<Dek | undefined> {
    const now = this.o.now();
    const cached = ring.deks.get(workspaceId, now);
    if (cached) return cached.value;
    let row = await this.loadDek(workspaceId);
    if (!row && opts.create) {
      const fresh = generateDek();
      try {
        const primary = ring.kek.keys.get(ring.kek.primaryId)!;
        const wrapped = await wrapDek(fresh.raw, primary, ring.kek.primaryId, { workspaceId, dekId: fresh.id });
        await this.o.db
          .insert(vaultDeks)
          .values({ id: fresh.id, workspaceId, wrapped, kekId: ring.kek.primaryId, createdAt: now })
          .onConflictDoNothing({ target: vaultDeks.workspaceId });
      } finally {
        fresh.raw.fill(0);
      }
      row = await this.loadDek(workspaceId);
    }
    if (!row) return undefined;
    const key = await unwrapDek(row.wrapped, ring.kek.keys, { workspaceId, dekId: row.id });
    if (!key.ok) throw this.failure(key.error, { workspaceId, dekId: row.id });
    const dek = { id: row.id, key: key.value };
    ring.deks.set(workspaceId, dek, now);
    return dek;
  }

  private async loadDek(workspaceId: string): Promise<{ id: string; wrapped: string } | undefined> {
    const [row] = await this.o.db
      .select({ id: vaultDeks.id, wrapped: vaultDeks.wrapped })
      .from(vaultDeks)
      .where(eq(vaultDeks.workspaceId, workspaceId))
      .limit(1);
    return row;
  }

  private async loadCopies(workspaceId: string, keyIds: readonly string[]): Promise<Array<{ keyId: string; ciphertext: string }>> {
    const { db } = this.o;
    const queries = chunk(keyIds, IDS_PER_QUERY).map((part) =>
      db
        .select({ keyId: encryptedKeys.keyId, ciphertext: encryptedKeys.ciphertext })
        .from(encryptedKeys)
        .where(and(eq(encryptedKeys.workspaceId, workspaceId), inArray(encryptedKeys.keyId, part)))
        .orderBy(asc(encryptedKeys.keyId)),
    );
    const pages = await db.batch(queries as [(typeof queries)[number], ...(typeof queries)[number][]]);
    return pages.flat();
  }

  /** Maps a vault error to the wire, logging it with its context (ids only: messages hold no secrets). */
  private failure(error: VaultError, context: Record<string, string>): ApiError {
    logVault("error", "vault.failure", { code: error.code, message: error.message, ...context });
    switch (error.code) {
      case "bad_config":
        return new ApiError("PRECONDITION_FAILED", `The vault is not configured: ${error.message}. Set it as described in the README (Vault).`);
      case "unknown_kek":
        return new ApiError("INTERNAL", `The vault cannot unwrap this workspace's data key: ${error.message} (was a KEK removed before \`npm run vault:rewrap\` finished?).`);
      case "unknown_dek":
      case "decrypt_failed":
      case "malformed": {
        const what = context.keyId ? `the encrypted copy of key ${context.keyId}` : "this workspace's data key";
        return new ApiError("INTERNAL", `The vault cannot decrypt ${what}: ${error.message}.`);
      }
    }
  }
}

function logVault(level: "info" | "error", msg: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else console.log(line);
}
