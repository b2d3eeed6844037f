/**
 * Key lifecycle writes: create, update, delete, reroll. Each one commits its rows to D1 in a single
 * `db.batch` (one transaction) together with its audit events (the outbox, src/services/audit.ts), then
 * publishes the key's new verification record or tombstone to KV, drops the isolate cache entry and bumps
 * the key's revision in its Durable Object, all before returning. Credit changes live in the key's object,
 * not in D1, so their event is appended to the audit log directly, before the change is made.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { encryptedKeys, identities, keys, keysPermissions, keysRoles, ratelimits } from "../db/schema";
import type { AuditContext, AuditResource } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { hashKey } from "../lib/hash";
import { newId } from "../lib/ids";
import { DEFAULT_KEY_BYTES, generateKey, prefixFromStart } from "../lib/keys";
import type { CreditChange } from "../lib/key-state-protocol";
import type { RefillConfig } from "../lib/record";
import { patchCredits, type CreditOperation, type CreditState } from "../lib/usage";
import type { AuditService } from "./audit";
import type { EdgeRecords } from "./edge-records";
import { loadKeyBundleById, loadKeyBundles, rowCredits, type KeyBundle } from "./key-bundles";
import { creditColumns, createCredits, refillBadRequest, refillState, type CreditsInput } from "./key-credits";
import { grantAuditStatements, grantStatements, type KeyGrants } from "./key-rbac";
import { nextRevision } from "./key-fanout";
import { insertRatelimit, replaceRatelimits, type RatelimitInput } from "./ratelimit-configs";
import { logFailure, type KeyStateClient } from "./key-state-client";
import type { ApiWithKeyspace } from "./apis";
import type { VaultService } from "./vault";

export type { CreditsInput } from "./key-credits";

/** A key that belongs to an API (every customer key; root keys have none). */
export type ApiKeyBundle = KeyBundle & { apiId: string };

type Stmt = BatchItem<"sqlite">;

export type { RatelimitInput };

export type CreateKeyInput = {
  prefix?: string | undefined;
  byteLength?: number | undefined;
  name?: string | undefined;
  meta?: Record<string, unknown> | undefined;
  expires?: number | undefined;
  enabled?: boolean | undefined;
  externalId?: string | undefined;
  credits?: CreditsInput | undefined;
  ratelimits?: RatelimitInput[] | undefined;
  /** Permissions and roles, already checked by `KeyRbacService.resolveGrants`; linked in the same batch. */
  grants?: KeyGrants | undefined;
  /** Keep an encrypted copy (the route has checked encrypt_key and that the API stores encrypted keys). */
  recoverable?: boolean | undefined;
};

/** Omitted field = unchanged, `null` = cleared (Unkey's updateKey semantics). */
export type UpdateKeyInput = {
  name?: string | null | undefined;
  externalId?: string | null | undefined;
  meta?: Record<string, unknown> | null | undefined;
  expires?: number | null | undefined;
  enabled?: boolean | undefined;
  credits?: { remaining?: number | null | undefined; refill?: RefillConfig | null | undefined } | null | undefined;
  ratelimits?: RatelimitInput[] | undefined;
};

export type KeyServiceOptions = { db: Db; edge: EdgeRecords; keyState: KeyStateClient; vault: VaultService; audit: AuditService; now: () => number };

export class KeyService {
  constructor(private readonly o: KeyServiceOptions) {}

  /** A live key of the workspace (by id), or a 404 that looks the same for another workspace's key. */
  async find(workspaceId: string, keyId: string): Promise<ApiKeyBundle> {
    const bundle = await loadKeyBundleById(this.o.db, workspaceId, keyId);
    if (!bundle || !bundle.apiId) throw new ApiError("KEY_NOT_FOUND", `The key ${keyId} does not exist.`);
    return bundle as ApiKeyBundle;
  }

  /** whoami: the live key of the workspace with this plaintext, or a 404. */
  async findByPlaintext(workspaceId: string, plaintext: string): Promise<ApiKeyBundle> {
    const hash = await hashKey(plaintext);
    const [bundle] = await loadKeyBundles(this.o.db, and(eq(keys.hash, hash), eq(keys.workspaceId, workspaceId), isNull(keys.deletedAt)));
    if (!bundle || !bundle.apiId || bundle.apiDeleted) throw new ApiError("KEY_NOT_FOUND", "The key does not exist.");
    return bundle as ApiKeyBundle;
  }

  async create(api: ApiWithKeyspace, input: CreateKeyInput, ctx: AuditContext): Promise<{ keyId: string; key: string }> {
    const { db, audit } = this.o;
    const now = this.o.now();
    const byteLength = input.byteLength ?? api.keyspace.defaultBytes ?? DEFAULT_KEY_BYTES;
    const { key, start } = generateKey({ prefix: input.prefix ?? api.keyspace.defaultPrefix ?? undefined, byteLength });
    const hash = await hashKey(key);
    const keyId = newId("key", now);
    const credits = creditColumns(createCredits(input.credits, now));
    // Encrypted before anything is written: a vault failure leaves no key behind, and the copy then goes
    // into the same batch as the key, so a recoverable key never exists without it.
    const copy = input.recoverable ? await this.o.vault.encrypt(api.workspaceId, keyId, key) : undefined;
    const identityId = input.externalId !== undefined ? newId("id", now) : undefined;
    // The events are built (and checked) before anything is written; their INSERTs end the batch.
    const events = [
      ...(identityId !== undefined ? this.identityCreated(ctx, identityId) : []),
      ...audit.stage(ctx, [{ event: "key.create", resources: keyResources(api.id, keyId), meta: { recoverable: input.recoverable === true } }]),
      ...(input.grants ? grantAuditStatements(audit, ctx, keyId, input.grants) : []),
    ];
    const stmts: Stmt[] = [];
    if (input.externalId !== undefined) stmts.push(this.upsertIdentity(api.workspaceId, input.externalId, now, identityId));
    stmts.push(
      db.insert(keys).values({
        id: keyId,
        workspaceId: api.workspaceId,
        keyspaceId: api.keyspaceId,
        hash,
        start,
        byteLength,
        name: input.name ?? null,
        meta: input.meta ? JSON.stringify(input.meta) : null,
        identityId: input.externalId !== undefined ? identityIdSql(api.workspaceId, input.externalId) : null,
        expires: input.expires ?? null,
        enabled: input.enabled ?? true,
        ...credits,
        revision: 0,
        createdAt: now,
      }),
    );
    if (copy) stmts.push(db.insert(encryptedKeys).values(copy));
    for (const rl of input.ratelimits ?? []) stmts.push(insertRatelimit(db, api.workspaceId, { keyId }, rl, now));
    if (input.grants) stmts.push(...grantStatements(db, api.workspaceId, keyId, input.grants, now));
    await db.batch([...stmts, ...events] as [Stmt, ...Stmt[]]);
    // Nothing to publish: a new key's first verify anywhere misses KV and reads D1. Only a negative entry
    // this isolate may hold for the hash must go (and no KV write can fail after the key exists).
    this.o.edge.evict(hash);
    return { keyId, key };
  }

  /**
   * Applies the patch. `ctx` names who asked (a root key, or the system: leaked-key revocation). The event
   * (`key.update`, naming the fields changed, never their values) goes into the batch, or, when the credits
   * change, straight to the audit log before the key's object is touched.
   */
  async update(bundle: KeyBundle, input: UpdateKeyInput, ctx: AuditContext): Promise<void> {
    const { db, audit } = this.o;
    const now = this.o.now();
    const k = bundle.key;
    const fields = UPDATE_FIELDS.filter((f) => input[f] !== undefined);
    const updated = { event: "key.update" as const, resources: keyResources(bundle.apiId, k.id), meta: { fields } };
    const identityId = typeof input.externalId === "string" ? newId("id", now) : undefined;
    const events = [
      ...(identityId !== undefined ? this.identityCreated(ctx, identityId) : []),
      ...(input.credits === undefined ? audit.stage(ctx, [updated]) : []),
    ];
    const set: Partial<typeof keys.$inferInsert> = { updatedAt: now, revision: nextRevision };
    const stmts: Stmt[] = [];
    if (input.name !== undefined) set.name = input.name;
    if (input.meta !== undefined) set.meta = input.meta === null ? null : JSON.stringify(input.meta);
    if (input.expires !== undefined) set.expires = input.expires;
    if (input.enabled !== undefined) set.enabled = input.enabled;
    if (input.externalId === null) set.identityId = null;
    if (typeof input.externalId === "string") {
      stmts.push(this.upsertIdentity(k.workspaceId, input.externalId, now, identityId));
      set.identityId = identityIdSql(k.workspaceId, input.externalId);
    }
    if (input.credits !== undefined) {
      // The balance's truth is the key's object, so the change is made there first, atomically with
      // respect to concurrent verifies; D1 then mirrors it. The object is not in the batch, so the event
      // is appended first (once the patch is known to be valid): if it cannot be, nothing changes (503).
      // The patch is checked against the balance as read (a 400 for an impossible one), then applied inside
      // the object, so credits spent between the read and the write are not given back.
      const patch = toCreditPatch(input.credits);
      await this.patchedCredits(bundle, patch, now);
      await audit.record(ctx, [updated]);
      const next = await this.changeCredits(bundle, { kind: "patch", patch }, now);
      Object.assign(set, creditColumns(next));
    }
    const updateAt = stmts.length;
    stmts.push(db.update(keys).set(set).where(and(eq(keys.id, k.id), eq(keys.workspaceId, k.workspaceId))).returning({ revision: keys.revision }));
    if (input.ratelimits !== undefined) stmts.push(...replaceRatelimits(db, k.workspaceId, { keyId: k.id }, input.ratelimits, now));
    const results = await db.batch([...stmts, ...events] as [Stmt, ...Stmt[]]);
    await this.afterMutation(bundle, committedRevision(results[updateAt], k));
  }

  /** Deletes the key (soft by default); `ctx` may name the system (leaked-key revocation) as the actor. */
  async delete(bundle: KeyBundle, permanent: boolean, ctx: AuditContext): Promise<void> {
    const { db } = this.o;
    const k = bundle.key;
    const now = this.o.now();
    const events = this.o.audit.stage(ctx, [{ event: "key.delete", resources: keyResources(bundle.apiId, k.id), meta: { permanent } }]);
    // A permanently deleted row has no revision left to read; nothing can follow the delete anyway.
    let revision = k.revision + 1;
    if (permanent) {
      await db.batch([
        db.delete(ratelimits).where(eq(ratelimits.keyId, k.id)),
        db.delete(keysPermissions).where(eq(keysPermissions.keyId, k.id)),
        db.delete(keysRoles).where(eq(keysRoles.keyId, k.id)),
        this.o.vault.deleteCopy(k.workspaceId, k.id),
        db.delete(keys).where(and(eq(keys.id, k.id), eq(keys.workspaceId, k.workspaceId))),
        ...events,
      ]);
    } else {
      const soft = { deletedAt: now, updatedAt: now, revision: nextRevision };
      const [rows] = await db.batch([
        db.update(keys).set(soft).where(and(eq(keys.id, k.id), eq(keys.workspaceId, k.workspaceId))).returning({ revision: keys.revision }),
        ...events,
      ]);
      revision = committedRevision(rows, k);
    }
    await this.afterMutation(bundle, revision);
  }

  /**
   * Issues a new key with everything the old one carries (name, meta, identity, expiry, credits, limits,
   * permissions, roles), and makes the old one expire `expirationMs` from now, rounded up to a whole minute
   * (0 = at once). An earlier expiry the old key already had is kept. A recoverable key's successor is
   * recoverable too (its copy encrypted under the new key id), as long as the API still stores encrypted keys.
   */
  async reroll(
    bundle: KeyBundle,
    api: ApiWithKeyspace,
    expirationMs: number,
    ctx: AuditContext,
    opts: { canEncrypt?: boolean } = {},
  ): Promise<{ keyId: string; key: string }> {
    const { db } = this.o;
    const now = this.o.now();
    const old = bundle.key;
    const byteLength = old.byteLength ?? api.keyspace.defaultBytes ?? DEFAULT_KEY_BYTES;
    const { key, start } = generateKey({ prefix: prefixFromStart(old.start), byteLength });
    const hash = await hashKey(key);
    const keyId = newId("key", now);
    const cutoff = expirationMs === 0 ? now : Math.ceil((now + expirationMs) / 60_000) * 60_000;
    const oldExpires = old.expires !== null ? Math.min(old.expires, cutoff) : cutoff;
    const { id: _id, hash: _h, start: _s, createdAt: _c, updatedAt: _u, lastUsedAt: _l, deletedAt: _d, ...copied } = old;
    // The new key starts with the old key's true balance (its object's), not the D1 mirror.
    const credits = creditColumns(await this.credits(bundle));
    const recoverable = api.keyspace.storeEncryptedKeys && (await this.o.vault.hasCopy(old.workspaceId, old.id));
    // Encrypting the successor is creating a recoverable key: it needs encrypt_key, as createKey does.
    if (recoverable && opts.canEncrypt === false) {
      throw new ApiError("INSUFFICIENT_PERMISSIONS", `This root key needs one of these permissions: api.*.encrypt_key, api.${api.id}.encrypt_key.`);
    }
    const copy = recoverable ? await this.o.vault.encrypt(old.workspaceId, keyId, key) : undefined;
    const meta = { oldKeyId: old.id, newKeyId: keyId, expiration: expirationMs };
    const events = this.o.audit.stage(ctx, [{ event: "key.reroll", resources: [...keyResources(api.id, old.id), { type: "key", id: keyId }], meta }]);
    const retire = db
      .update(keys)
      .set({ expires: oldExpires, updatedAt: now, revision: nextRevision })
      .where(and(eq(keys.id, old.id), eq(keys.workspaceId, old.workspaceId)))
      .returning({ revision: keys.revision });
    const stmts: Stmt[] = [
      db.insert(keys).values({ ...copied, ...credits, id: keyId, hash, start, byteLength, revision: 0, createdAt: now }),
      ...(copy ? [db.insert(encryptedKeys).values(copy)] : []),
      ...bundle.keyRatelimits.map((rl) => insertRatelimit(db, old.workspaceId, { keyId }, rl, now)),
      db.insert(keysPermissions).select(
        db
          .select({
            keyId: sql<string>`${keyId}`.as("key_id"),
            permissionId: keysPermissions.permissionId,
            workspaceId: keysPermissions.workspaceId,
            createdAt: sql<number>`${now}`.as("created_at"),
          })
          .from(keysPermissions)
          .where(eq(keysPermissions.keyId, old.id)),
      ),
      db.insert(keysRoles).select(
        db
          .select({
            keyId: sql<string>`${keyId}`.as("key_id"),
            roleId: keysRoles.roleId,
            workspaceId: keysRoles.workspaceId,
            createdAt: sql<number>`${now}`.as("created_at"),
          })
          .from(keysRoles)
          .where(eq(keysRoles.keyId, old.id)),
      ),
      retire,
      ...events,
    ];
    const results = await db.batch(stmts as [Stmt, ...Stmt[]]);
    this.o.edge.evict(hash);
    await this.afterMutation(bundle, committedRevision(results[stmts.indexOf(retire)], old));
    return { keyId, key };
  }

  /**
   * The key's true balance: its object's, with refills applied (the D1 mirror can lag). If the object
   * cannot answer, the mirror is reported and the failure logged: a read must not fail for it.
   */
  async credits(bundle: KeyBundle): Promise<CreditState | null> {
    const seed = rowCredits(bundle.key);
    if (!seed) return null;
    try {
      return await this.o.keyState.readCredits(identOf(bundle), seed, this.o.now());
    } catch (err) {
      logFailure("credit read failed; reporting the D1 mirror", { keyId: bundle.key.id }, err);
      return seed;
    }
  }

  /**
   * keys.updateCredits: the operation runs in the key's object, then D1 mirrors the result. The object is
   * not part of a D1 batch, so the event is appended to the audit log first; if it cannot be, the credits
   * are not changed (503).
   */
  async updateCredits(bundle: KeyBundle, op: CreditOperation, ctx: AuditContext): Promise<CreditState | null> {
    const now = this.o.now();
    if (op.operation !== "set" && bundle.key.creditsRemaining === null) {
      throw new ApiError("INVALID_INPUT", `Cannot ${op.operation} the credits of a key with unlimited usage; use "set" first.`, [
        { location: "body.operation", message: "the key has no credit balance" },
      ]);
    }
    const meta = { fields: ["credits"], operation: op.operation };
    await this.o.audit.record(ctx, [{ event: "key.update", resources: keyResources(bundle.apiId, bundle.key.id), meta }]);
    const next = await this.changeCredits(bundle, { kind: "operation", op }, now);
    const rows = await this.o.db
      .update(keys)
      .set({ ...creditColumns(next), updatedAt: now, revision: nextRevision })
      .where(and(eq(keys.id, bundle.key.id), eq(keys.workspaceId, bundle.key.workspaceId)))
      .returning({ revision: keys.revision });
    await this.afterMutation(bundle, committedRevision(rows, bundle.key));
    return next;
  }

  /** The balance a credits patch leaves (a 400 for an impossible one); nothing is changed yet. */
  private async patchedCredits(bundle: KeyBundle, patch: StatePatch, now: number): Promise<CreditState | null> {
    try {
      return patchCredits(await this.credits(bundle), patch, now);
    } catch (err) {
      if (err instanceof RangeError) throw refillBadRequest(`${err.message}.`);
      throw err;
    }
  }

  private async changeCredits(bundle: KeyBundle, change: CreditChange["change"], now: number): Promise<CreditState | null> {
    try {
      return await this.o.keyState.changeCredits({ ...identOf(bundle), initial: rowCredits(bundle.key), change, now });
    } catch (err) {
      logFailure("credit change failed", { keyId: bundle.key.id }, err);
      throw new ApiError("SERVICE_UNAVAILABLE", "The key's usage state is unavailable, so its credits were not changed. Retry the request.");
    }
  }

  /** Publishes the key's new state and tells its Durable Object (if verifies of the key go through one). */
  private async afterMutation(before: KeyBundle, revision: number): Promise<void> {
    // The object first: keys whose verifies go through it see the change at once even if KV is failing.
    // `revision` is the one this mutation committed (read back from D1, so two concurrent mutations of the
    // key send their own, and the later one wins in the object).
    const hasState = before.keyRatelimits.length > 0 || before.identityRatelimits.length > 0 || before.key.creditsRemaining !== null;
    if (hasState) await this.o.keyState.bump({ workspaceId: before.key.workspaceId, keyId: before.key.id }, revision);
    // A key that only now gains limits or credits needs no notice: its object starts from the first
    // record that reaches it, and records from before the change never call it.
    await this.o.edge.publish(before.key.hash, revision);
  }

  /** Creates the identity with id `id` unless the workspace has one with this externalId already. */
  private upsertIdentity(workspaceId: string, externalId: string, now: number, id: string = newId("id", now)): Stmt {
    return this.o.db
      .insert(identities)
      .values({ id, workspaceId, externalId, createdAt: now })
      .onConflictDoNothing({ target: [identities.workspaceId, identities.externalId] });
  }

  /** `identity.create`, recorded only if the upsert earlier in the batch made the identity `id`. */
  private identityCreated(ctx: AuditContext, id: string) {
    return this.o.audit.stage(
      ctx,
      [{ event: "identity.create", resources: [{ type: "identity", id }], args: [id] }],
      ([newIdentity]) => sql`EXISTS (SELECT 1 FROM ${identities} WHERE ${identities.id} = ${newIdentity})`,
    );
  }
}

/** The fields of a patch that `key.update` names (never their values). */
const UPDATE_FIELDS = ["name", "externalId", "meta", "expires", "enabled", "credits", "ratelimits"] as const satisfies readonly (keyof UpdateKeyInput)[];

/** A key's audit resources: its API (when it has one) and the key. */
function keyResources(apiId: string | undefined, keyId: string): AuditResource[] {
  return apiId !== undefined ? [{ type: "api", id: apiId }, { type: "key", id: keyId }] : [{ type: "key", id: keyId }];
}

function identityIdSql(workspaceId: string, externalId: string): string {
  return sql`(SELECT id FROM identities WHERE workspace_id = ${workspaceId} AND external_id = ${externalId})` as unknown as string;
}

function identOf(bundle: KeyBundle): { workspaceId: string; keyId: string } {
  return { workspaceId: bundle.key.workspaceId, keyId: bundle.key.id };
}

type CreditPatch = NonNullable<UpdateKeyInput["credits"]> | null;
type StatePatch = Parameters<typeof patchCredits>[1];

/** updateKey's wire-format credits (`interval` + `refillDay`) as the object's patch (`refillDay` = monthly). */
function toCreditPatch(patch: CreditPatch): StatePatch {
  if (patch === null) return null;
  const out: NonNullable<StatePatch> = {};
  if (patch.remaining !== undefined) out.remaining = patch.remaining;
  if (patch.refill !== undefined) out.refill = patch.refill === null ? null : refillState(patch.refill);
  return out;
}

/**
 * The revision a mutation's `UPDATE … RETURNING revision` committed. If the row matched nothing (deleted
 * concurrently), the old revision plus one is the best remaining notice.
 */
function committedRevision(rows: unknown, before: { revision: number }): number {
  const row = (rows as { revision: number }[] | undefined)?.[0];
  return row ? row.revision : before.revision + 1;
}
