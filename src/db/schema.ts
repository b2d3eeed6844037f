/**
 * D1 schema: the source of truth. Every timestamp is integer unix milliseconds; ids are prefixed text from
 * `lib/ids.ts`. Storage formats and invariants are written down in docs/storage.md.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

export const workspaces = sqliteTable("workspaces", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  createdAt: integer("created_at").notNull().default(now),
});

/** A keyspace holds keys. Every API owns exactly one; root keys live in the internal workspace's keyspace. */
export const keyspaces = sqliteTable("keyspaces", {
  id: text("id").primaryKey(),
  workspaceId: text("workspace_id").notNull(),
  defaultPrefix: text("default_prefix"),
  defaultBytes: integer("default_bytes"),
  /** Opt-in for recoverable keys (the vault). */
  storeEncryptedKeys: integer("store_encrypted_keys", { mode: "boolean" }).notNull().default(false),
  createdAt: integer("created_at").notNull().default(now),
});

export const apis = sqliteTable(
  "apis",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    keyspaceId: text("keyspace_id").notNull(),
    name: text("name").notNull(),
    /** Comma-separated CIDRs (v4 and v6); NULL = verifies from anywhere. */
    ipWhitelist: text("ip_whitelist"),
    /** A protected API cannot be deleted, nor its keys deleted in bulk. */
    deleteProtection: integer("delete_protection", { mode: "boolean" }).notNull().default(false),
    /** What a leaked-key report does to a key of this API: "revoke" (delete) or "disable". */
    leakedKeyAction: text("leaked_key_action").notNull().default("revoke"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
    deletedAt: integer("deleted_at"),
  },
  (t) => [uniqueIndex("apis_keyspace_id_uq").on(t.keyspaceId), index("apis_workspace_id_idx").on(t.workspaceId)],
);

export const identities = sqliteTable(
  "identities",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    externalId: text("external_id").notNull(),
    meta: text("meta"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [uniqueIndex("identities_workspace_external_id_uq").on(t.workspaceId, t.externalId)],
);

export const keys = sqliteTable(
  "keys",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    keyspaceId: text("keyspace_id").notNull(),
    /** Set only on root keys: the workspace the key administers. */
    forWorkspaceId: text("for_workspace_id"),
    /** base64(SHA-256(utf8(key))): the only lookup path. The plaintext is never stored. */
    hash: text("hash").notNull(),
    start: text("start").notNull(),
    /** Random bytes the key was generated from; a reroll keeps the same strength. */
    byteLength: integer("byte_length"),
    name: text("name"),
    /** JSON text of the key's meta object. */
    meta: text("meta"),
    identityId: text("identity_id"),
    expires: integer("expires"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** NULL = unlimited. Mirrors the key's Durable Object once it exists (see docs/storage.md). */
    creditsRemaining: integer("credits_remaining"),
    refillAmount: integer("refill_amount"),
    /** NULL with refill_amount set = daily refill; 1..31 = monthly on that day. */
    refillDay: integer("refill_day"),
    lastRefillAt: integer("last_refill_at"),
    /** Bumped by every mutation; verification records carry it (see docs/architecture.md, Revocation). */
    revision: integer("revision").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
    deletedAt: integer("deleted_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [
    uniqueIndex("keys_hash_uq").on(t.hash),
    index("keys_keyspace_id_idx").on(t.keyspaceId, t.id),
    index("keys_identity_id_idx").on(t.identityId),
    index("keys_workspace_id_idx").on(t.workspaceId),
  ],
);

/** Named rate limits attached to a key or to an identity (exactly one of the two is set). */
export const ratelimits = sqliteTable(
  "ratelimits",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    keyId: text("key_id"),
    identityId: text("identity_id"),
    name: text("name").notNull(),
    limit: integer("limit").notNull(),
    duration: integer("duration").notNull(),
    autoApply: integer("auto_apply", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [
    uniqueIndex("ratelimits_key_name_uq").on(t.keyId, t.name),
    uniqueIndex("ratelimits_identity_name_uq").on(t.identityId, t.name),
  ],
);

export const permissions = sqliteTable(
  "permissions",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    name: text("name").notNull(),
    slug: text("slug").notNull(),
    description: text("description"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [uniqueIndex("permissions_workspace_slug_uq").on(t.workspaceId, t.slug)],
);

export const roles = sqliteTable(
  "roles",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    name: text("name").notNull(),
    description: text("description"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [uniqueIndex("roles_workspace_name_uq").on(t.workspaceId, t.name)],
);

export const keysPermissions = sqliteTable(
  "keys_permissions",
  {
    keyId: text("key_id").notNull(),
    permissionId: text("permission_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.permissionId] }), index("keys_permissions_permission_idx").on(t.permissionId)],
);

export const keysRoles = sqliteTable(
  "keys_roles",
  {
    keyId: text("key_id").notNull(),
    roleId: text("role_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.roleId] }), index("keys_roles_role_idx").on(t.roleId)],
);

export const rolesPermissions = sqliteTable(
  "roles_permissions",
  {
    roleId: text("role_id").notNull(),
    permissionId: text("permission_id").notNull(),
    workspaceId: text("workspace_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.roleId, t.permissionId] }), index("roles_permissions_permission_idx").on(t.permissionId)],
);

/** Namespaces of the standalone rate limiter (`ratelimit.limit`), created on first use. */
export const ratelimitNamespaces = sqliteTable(
  "ratelimit_namespaces",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
    deletedAt: integer("deleted_at"),
  },
  (t) => [uniqueIndex("ratelimit_namespaces_workspace_name_uq").on(t.workspaceId, t.name)],
);

/** Per-identifier overrides of a namespace's limits; `identifier` may contain `*` wildcards. */
export const ratelimitOverrides = sqliteTable(
  "ratelimit_overrides",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    namespaceId: text("namespace_id").notNull(),
    identifier: text("identifier").notNull(),
    limit: integer("limit").notNull(),
    duration: integer("duration").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [uniqueIndex("ratelimit_overrides_namespace_identifier_uq").on(t.namespaceId, t.identifier)],
);

/** One data-encryption key per workspace, wrapped by a key-encryption key from VAULT_MASTER_KEYS. */
export const vaultDeks = sqliteTable(
  "vault_deks",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    /** `v1.<kekId>.<nonce>.<ciphertext>` (src/lib/vault.ts); never the raw key. */
    wrapped: text("wrapped").notNull(),
    /** The KEK that wraps it (also inside `wrapped`): lets the re-wrap command find what is left to do. */
    kekId: text("kek_id").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at"),
  },
  (t) => [uniqueIndex("vault_deks_workspace_uq").on(t.workspaceId), index("vault_deks_kek_idx").on(t.kekId)],
);

/** The encrypted copy of a recoverable key, bound to its workspace and key id (AAD). */
export const encryptedKeys = sqliteTable(
  "encrypted_keys",
  {
    keyId: text("key_id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    /** `v1.<dekId>.<nonce>.<ciphertext>` (src/lib/vault.ts). */
    ciphertext: text("ciphertext").notNull(),
    dekId: text("dek_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("encrypted_keys_workspace_idx").on(t.workspaceId)],
);

/**
 * The audit outbox: events written in the same `db.batch` as the change they record, so the change and its
 * record commit or fail together. After the commit (before the response) the Worker relays a workspace's
 * rows, in `rowid` order (= commit order), to its `AuditLog` object, which stores each event id at most
 * once, and deletes them. A row left behind by a failed relay is relayed by the next mutation or read of
 * that workspace's log (src/services/audit.ts).
 */
export const auditOutbox = sqliteTable(
  "audit_outbox",
  {
    /** The event's own `log_…` id. */
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    /** When the event was staged (unix ms): how long a row has waited, for monitoring. Order is `rowid`. */
    createdAt: integer("created_at").notNull(),
    /** The event's content as canonical JSON (src/lib/audit.ts); ids only, never a secret. */
    json: text("json").notNull(),
  },
  (t) => [index("audit_outbox_workspace_idx").on(t.workspaceId)],
);

export type KeyRow = typeof keys.$inferSelect;
export type ApiRow = typeof apis.$inferSelect;
export type IdentityRow = typeof identities.$inferSelect;
export type RatelimitRow = typeof ratelimits.$inferSelect;
