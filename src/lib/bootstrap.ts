/**
 * SQL plans for creating workspaces and root keys. Shared by `npm run bootstrap` (which runs them through
 * `wrangler d1 execute`, so the root key is generated on the operator's machine and only its hash travels)
 * and by the test harness (which runs them on the D1 binding), so both create exactly the same rows.
 */
import { generateKey } from "./keys";
import { hashKey } from "./hash";
import { newId } from "./ids";

/** The workspace that owns every root key, and its keyspace. Created on first use, never listed. */
export const INTERNAL_WORKSPACE_ID = "ws_latch_internal";
export const ROOT_KEYSPACE_ID = "ks_latch_root";
export const ROOT_KEY_PREFIX = "latch_root";

export type SqlValue = string | number | null;
export type Statement = { sql: string; params: SqlValue[] };

/** D1 allows at most 100 bound parameters per statement. */
const MAX_PARAMS = 100;

export function internalWorkspaceStatements(now: number): Statement[] {
  return [
    {
      sql: "INSERT OR IGNORE INTO workspaces (id, name, enabled, created_at) VALUES (?, ?, 1, ?)",
      params: [INTERNAL_WORKSPACE_ID, "Latch internal", now],
    },
    {
      sql: "INSERT OR IGNORE INTO keyspaces (id, workspace_id, created_at) VALUES (?, ?, ?)",
      params: [ROOT_KEYSPACE_ID, INTERNAL_WORKSPACE_ID, now],
    },
  ];
}

export function workspaceStatements(workspaceId: string, name: string, now: number): Statement[] {
  return [{ sql: "INSERT INTO workspaces (id, name, enabled, created_at) VALUES (?, ?, 1, ?)", params: [workspaceId, name, now] }];
}

export type RootKeyPlan = { keyId: string; rootKey: string; hash: string; statements: Statement[] };

/** A new root key for `workspaceId` holding exactly `permissions` (tuple strings). */
export async function rootKeyPlan(opts: {
  workspaceId: string;
  permissions: readonly string[];
  name?: string;
  now: number;
}): Promise<RootKeyPlan> {
  const { key: rootKey, start } = generateKey({ prefix: ROOT_KEY_PREFIX, byteLength: 24 });
  const hash = await hashKey(rootKey);
  const keyId = newId("key", opts.now);
  const statements: Statement[] = [
    {
      sql:
        "INSERT INTO keys (id, workspace_id, keyspace_id, for_workspace_id, hash, start, name, enabled, revision, created_at) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?)",
      params: [keyId, INTERNAL_WORKSPACE_ID, ROOT_KEYSPACE_ID, opts.workspaceId, hash, start, opts.name ?? null, opts.now],
    },
  ];
  const slugs = [...new Set(opts.permissions)];
  // Multi-row inserts, 20 rows (100 parameters) each: a plan stays a few dozen statements even for
  // 1,000 permissions, well inside D1's per-invocation query limit.
  const rowsPerInsert = Math.floor(MAX_PARAMS / 5);
  for (let i = 0; i < slugs.length; i += rowsPerInsert) {
    const part = slugs.slice(i, i + rowsPerInsert);
    statements.push({
      sql:
        "INSERT OR IGNORE INTO permissions (id, workspace_id, name, slug, created_at) VALUES " +
        part.map(() => "(?, ?, ?, ?, ?)").join(", "),
      params: part.flatMap((slug) => [newId("perm", opts.now), INTERNAL_WORKSPACE_ID, slug, slug, opts.now]),
    });
  }
  const chunk = MAX_PARAMS - 3;
  for (let i = 0; i < slugs.length; i += chunk) {
    const part = slugs.slice(i, i + chunk);
    statements.push({
      sql:
        "INSERT INTO keys_permissions (key_id, permission_id, workspace_id, created_at) " +
        `SELECT ?, id, workspace_id, ? FROM permissions WHERE workspace_id = ? AND slug IN (${part.map(() => "?").join(", ")})`,
      params: [keyId, opts.now, INTERNAL_WORKSPACE_ID, ...part],
    });
  }
  return { keyId, rootKey, hash, statements };
}

/** Renders a statement with its parameters inlined as SQL literals, for `wrangler d1 execute --file`. */
export function inlineStatement(stmt: Statement): string {
  let i = 0;
  const sql = stmt.sql.replace(/\?/g, () => {
    const value = stmt.params[i++];
    if (value === null || value === undefined) return "NULL";
    if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new RangeError("non-finite number in SQL");
      return String(value);
    }
    return `'${value.replace(/'/g, "''")}'`;
  });
  if (i !== stmt.params.length) throw new Error("parameter count does not match placeholders");
  return sql.endsWith(";") ? sql : `${sql};`;
}
