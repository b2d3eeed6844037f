import { describe, expect, it } from "vitest";
import {
  INTERNAL_WORKSPACE_ID,
  ROOT_KEYSPACE_ID,
  ROOT_KEY_PREFIX,
  inlineStatement,
  internalWorkspaceStatements,
  rootKeyPlan,
  workspaceStatements,
  type Statement,
} from "./bootstrap";
import { base58Decode } from "./base58";
import { hashKey } from "./hash";
import { ALL_ROOT_PERMISSIONS } from "./root-permissions";

const NOW = 1_750_000_000_000;
const countPlaceholders = (sql: string) => (sql.match(/\?/g) ?? []).length;

describe("inlineStatement", () => {
  it("inlines strings in single quotes, doubling embedded quotes", () => {
    expect(inlineStatement({ sql: "SELECT ?", params: ["abc"] })).toBe("SELECT 'abc';");
    expect(inlineStatement({ sql: "SELECT ?", params: ["O'Brien"] })).toBe("SELECT 'O''Brien';");
    expect(inlineStatement({ sql: "SELECT ?", params: ["''"] })).toBe("SELECT '''''';");
    expect(inlineStatement({ sql: "SELECT ?", params: ["'; DROP TABLE keys; --"] })).toBe("SELECT '''; DROP TABLE keys; --';");
    expect(inlineStatement({ sql: "SELECT ?", params: [""] })).toBe("SELECT '';");
  });

  it("does not treat a ? inside a parameter value as a placeholder", () => {
    expect(inlineStatement({ sql: "SELECT ?, ?", params: ["a?b", 2] })).toBe("SELECT 'a?b', 2;");
  });

  it("inlines null as NULL and numbers as written", () => {
    expect(inlineStatement({ sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)", params: [null, 0, -5, 1.5, NOW] })).toBe(
      `INSERT INTO t VALUES (NULL, 0, -5, 1.5, ${NOW});`,
    );
  });

  it("adds a trailing semicolon only when missing", () => {
    expect(inlineStatement({ sql: "SELECT 1", params: [] })).toBe("SELECT 1;");
    expect(inlineStatement({ sql: "SELECT 1;", params: [] })).toBe("SELECT 1;");
  });

  it("throws when placeholders and parameters do not match", () => {
    expect(() => inlineStatement({ sql: "SELECT ?, ?", params: ["a"] })).toThrow();
    expect(() => inlineStatement({ sql: "SELECT ?", params: ["a", "b"] })).toThrow();
    expect(() => inlineStatement({ sql: "SELECT 1", params: [1] })).toThrow();
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])("throws on the non-finite number %s", (n) => {
    expect(() => inlineStatement({ sql: "SELECT ?", params: [n] })).toThrow(RangeError);
  });
});

describe("workspace statements", () => {
  it("create the internal workspace idempotently and a user workspace", () => {
    const internal = internalWorkspaceStatements(NOW);
    for (const s of internal) {
      expect(s.sql).toMatch(/^INSERT OR IGNORE/);
      expect(countPlaceholders(s.sql)).toBe(s.params.length);
    }
    expect(internal.flatMap((s) => s.params)).toEqual(expect.arrayContaining([INTERNAL_WORKSPACE_ID, ROOT_KEYSPACE_ID]));
    const [ws] = workspaceStatements("ws_abc", "Acme's", NOW);
    expect(ws!.params).toEqual(["ws_abc", "Acme's", NOW]);
    expect(inlineStatement(ws!)).toContain("'Acme''s'");
  });
});

describe("rootKeyPlan", () => {
  it("makes a latch_root_ key of 24 random bytes whose stored hash is hashKey(rootKey)", async () => {
    const plan = await rootKeyPlan({ workspaceId: "ws_user", permissions: ["api.*.read_api"], now: NOW });
    expect(ROOT_KEY_PREFIX).toBe("latch_root");
    expect(plan.rootKey.startsWith("latch_root_")).toBe(true);
    expect(base58Decode(plan.rootKey.slice("latch_root_".length))).toHaveLength(24);
    expect(plan.hash).toBe(await hashKey(plan.rootKey));
    expect(plan.keyId).toMatch(/^key_[0-9A-Za-z]{20}$/);

    const keyInsert = plan.statements[0]!;
    expect(keyInsert.sql).toMatch(/^INSERT INTO keys /);
    expect(keyInsert.params).toContain(plan.keyId);
    expect(keyInsert.params).toContain(plan.hash);
    expect(keyInsert.params).toContain(INTERNAL_WORKSPACE_ID);
    expect(keyInsert.params).toContain(ROOT_KEYSPACE_ID);
    expect(keyInsert.params).toContain("ws_user");
    expect(keyInsert.params).toContain(plan.rootKey.slice(0, "latch_root_".length + 4));
  });

  it("makes a new key every time", async () => {
    const a = await rootKeyPlan({ workspaceId: "ws_user", permissions: [], now: NOW });
    const b = await rootKeyPlan({ workspaceId: "ws_user", permissions: [], now: NOW });
    expect(a.rootKey).not.toBe(b.rootKey);
    expect(a.keyId).not.toBe(b.keyId);
    expect(a.hash).not.toBe(b.hash);
  });

  it("with 250 permissions keeps every statement within D1's 100 parameters and links every permission", async () => {
    const permissions = Array.from({ length: 250 }, (_, i) => `api.api_${String(i).padStart(3, "0")}.read_key`);
    const plan = await rootKeyPlan({ workspaceId: "ws_user", permissions, now: NOW });
    for (const s of plan.statements) {
      expect(s.params.length).toBeLessThanOrEqual(100);
      expect(countPlaceholders(s.sql)).toBe(s.params.length);
      expect(() => inlineStatement(s)).not.toThrow();
    }
    const permissionInserts = plan.statements.filter((s) => /INTO permissions\b/.test(s.sql));
    // Multi-row inserts: every fifth parameter from the fourth on is a slug.
    const insertedSlugs = permissionInserts.flatMap((s) => s.params.filter((_, i) => i % 5 === 3));
    expect(insertedSlugs.sort()).toEqual([...permissions].sort());
    expect(permissionInserts.length).toBe(Math.ceil(250 / 20));
    const links = plan.statements.filter((s) => /INTO keys_permissions\b/.test(s.sql));
    expect(links.length).toBeGreaterThanOrEqual(3);
    for (const s of links) expect(s.params[0]).toBe(plan.keyId);
    const linkedSlugs = links.flatMap((s) => s.params.slice(3));
    expect(linkedSlugs.sort()).toEqual([...permissions].sort());
  });

  it("deduplicates permissions", async () => {
    const plan = await rootKeyPlan({ workspaceId: "ws_user", permissions: ["api.*.read_api", "api.*.read_api", "api.*.read_key"], now: NOW });
    const permissionInserts = plan.statements.filter((s) => /INTO permissions\b/.test(s.sql));
    expect(permissionInserts.flatMap((s) => s.params.filter((_, i) => i % 5 === 3))).toEqual(["api.*.read_api", "api.*.read_key"]);
    const linked = plan.statements.filter((s) => /INTO keys_permissions\b/.test(s.sql)).flatMap((s) => s.params.slice(3));
    expect(linked.sort()).toEqual(["api.*.read_api", "api.*.read_key"]);
  });

  it("writes no permission links for an empty permission list", async () => {
    const plan = await rootKeyPlan({ workspaceId: "ws_user", permissions: [], now: NOW });
    expect(plan.statements).toHaveLength(1);
  });

  it("never puts the plaintext root key (or its random part) into any statement", async () => {
    const plan = await rootKeyPlan({ workspaceId: "ws_user", permissions: ALL_ROOT_PERMISSIONS, name: "bootstrap", now: NOW });
    const random = plan.rootKey.slice("latch_root_".length);
    const all: Statement[] = [...internalWorkspaceStatements(NOW), ...plan.statements];
    for (const s of all) {
      expect(s.sql).not.toContain(plan.rootKey);
      expect(s.sql).not.toContain(random);
      for (const p of s.params) {
        if (typeof p === "string") {
          expect(p).not.toContain(plan.rootKey);
          expect(p).not.toContain(random);
        }
      }
      const inlined = inlineStatement(s);
      expect(inlined).not.toContain(plan.rootKey);
      expect(inlined).not.toContain(random);
    }
  });
});
