import { describe, expect, it } from "vitest";
import { ALL_ROOT_PERMISSIONS, ROOT_ACTIONS, grantsFor, hasAny, notGrantable, parseRootPermission, type RootTuple } from "./root-permissions";

describe("ALL_ROOT_PERMISSIONS", () => {
  it("has no duplicates", () => {
    expect(new Set(ALL_ROOT_PERMISSIONS).size).toBe(ALL_ROOT_PERMISSIONS.length);
  });

  it("has only wildcard tuples of the known resource types", () => {
    for (const p of ALL_ROOT_PERMISSIONS) expect(p).toMatch(/^(api|ratelimit|rbac|identity|rootkey|vault|auditlog)\.\*\.[a-z_]+$/);
  });

  it("holds one tuple per action of every resource type", () => {
    const expected = Object.entries(ROOT_ACTIONS).flatMap(([type, actions]) => actions.map((a) => `${type}.*.${a}`));
    expect([...ALL_ROOT_PERMISSIONS].sort()).toEqual(expected.sort());
    for (const p of ["api.*.create_api", "api.*.read_api", "api.*.delete_api", "api.*.create_key", "api.*.read_key", "api.*.update_key", "api.*.delete_key", "api.*.verify_key", "api.*.encrypt_key", "api.*.decrypt_key"]) {
      expect(ALL_ROOT_PERMISSIONS).toContain(p);
    }
  });

  it("includes the vault's operator permission, wildcard only", () => {
    expect(ALL_ROOT_PERMISSIONS).toContain("vault.*.rewrap");
    expect(grantsFor("vault", "rewrap")).toEqual(["vault.*.rewrap"]);
    expect(parseRootPermission("vault.*.rewrap")).toEqual({ type: "vault", id: "*", action: "rewrap" });
    for (const p of ["vault.ws_1.rewrap", "vault.*.decrypt_key", "vault.*.*", "api.*.rewrap"]) {
      expect(parseRootPermission(p), p).toHaveProperty("error");
    }
  });

  it("includes reading the audit log, wildcard only", () => {
    expect(ALL_ROOT_PERMISSIONS).toContain("auditlog.*.read");
    expect(grantsFor("auditlog", "read")).toEqual(["auditlog.*.read"]);
    expect(parseRootPermission("auditlog.*.read")).toEqual({ type: "auditlog", id: "*", action: "read" });
    for (const p of ["auditlog.ws_1.read", "auditlog.*.write", "auditlog.*.*", "auditlogs.*.read", "api.*.read"]) {
      expect(parseRootPermission(p), p).toHaveProperty("error");
    }
  });

  it("includes root-key management, so the bootstrap key can mint narrower keys", () => {
    for (const p of ["rootkey.*.create_root_key", "rootkey.*.read_root_key", "rootkey.*.delete_root_key"]) {
      expect(ALL_ROOT_PERMISSIONS).toContain(p);
    }
  });
});

describe("grantsFor", () => {
  it("without an id is only the wildcard tuple", () => {
    expect(grantsFor("api", "create_api")).toEqual(["api.*.create_api"]);
    expect(grantsFor("identity", "read_identity")).toEqual(["identity.*.read_identity"]);
  });

  it("with an id is the wildcard tuple and the specific one", () => {
    expect(grantsFor("api", "read_key", "api_123")).toEqual(["api.*.read_key", "api.api_123.read_key"]);
    expect(grantsFor("ratelimit", "limit", "ns_1")).toEqual(["ratelimit.*.limit", "ratelimit.ns_1.limit"]);
  });
});

describe("hasAny", () => {
  it("grants on an exact wildcard or specific match, from an array or a Set", () => {
    const wanted = grantsFor("api", "read_key", "api_1");
    expect(hasAny(["api.*.read_key"], wanted)).toBe(true);
    expect(hasAny(["api.api_1.read_key"], wanted)).toBe(true);
    expect(hasAny(new Set(["api.api_1.read_key"]), wanted)).toBe(true);
    expect(hasAny(new Set(["api.*.read_key", "api.*.read_api"]), grantsFor("api", "read_api"))).toBe(true);
  });

  it("matches whole strings only", () => {
    expect(hasAny(["api.*.read_key"], ["api.*.read_keys"])).toBe(false);
    expect(hasAny(["api.*.read_keys"], ["api.*.read_key"])).toBe(false);
    expect(hasAny(["API.*.READ_KEY"], ["api.*.read_key"])).toBe(false);
    expect(hasAny([" api.*.read_key"], ["api.*.read_key"])).toBe(false);
  });

  it("treats * as a literal id, never a glob", () => {
    const wanted = grantsFor("api", "read_key", "api_1");
    expect(hasAny(["*"], wanted)).toBe(false);
    expect(hasAny(["api.*"], wanted)).toBe(false);
    expect(hasAny(["api.*.*"], wanted)).toBe(false);
    expect(hasAny(["*.*.read_key"], wanted)).toBe(false);
    expect(hasAny(["api.api_*.read_key"], wanted)).toBe(false);
  });

  it("does not let a permission on one resource grant another", () => {
    expect(hasAny(["api.api_2.read_key"], grantsFor("api", "read_key", "api_1"))).toBe(false);
    expect(hasAny(["api.api_1.read_key"], grantsFor("api", "read_key"))).toBe(false);
    expect(hasAny(["api.*.read_api"], grantsFor("api", "read_key", "api_1"))).toBe(false);
  });

  it("grants nothing from nothing", () => {
    expect(hasAny([], grantsFor("api", "read_key"))).toBe(false);
    expect(hasAny(new Set<string>(), grantsFor("api", "read_key"))).toBe(false);
    expect(hasAny(ALL_ROOT_PERMISSIONS, [])).toBe(false);
  });
});

describe("parseRootPermission", () => {
  it("accepts every wildcard tuple and specific ids for APIs and namespaces", () => {
    for (const p of ALL_ROOT_PERMISSIONS) expect(parseRootPermission(p)).not.toHaveProperty("error");
    expect(parseRootPermission("api.api_123.read_key")).toEqual({ type: "api", id: "api_123", action: "read_key" });
    expect(parseRootPermission("ratelimit.rlns_1.limit")).toEqual({ type: "ratelimit", id: "rlns_1", action: "limit" });
    expect(parseRootPermission("rootkey.*.create_root_key")).toEqual({ type: "rootkey", id: "*", action: "create_root_key" });
  });

  it("rejects anything that is not a known <type>.<id|*>.<action>", () => {
    const bad = [
      "",
      "*",
      "api",
      "api.*",
      "api.*.*",
      "api..read_key",
      "api.*.read_key.extra",
      "api.*.read_keys",
      "API.*.read_key",
      "apis.*.read_key",
      "api.*.create_identity",
      "identity.*.read_key",
      "api.api-1.read_key",
      "api.api 1.read_key",
      "api.api_*.read_key",
      " api.*.read_key",
      "api.*.read_key ",
      `api.${"a".repeat(256)}.read_key`,
      "constructor.*.read_key",
      "__proto__.*.read_key",
      "toString.*.read_key",
      "api.*.constructor",
      "unkey:v1:ws_1:**#*",
    ];
    for (const p of bad) expect(parseRootPermission(p), JSON.stringify(p)).toHaveProperty("error");
  });

  it("rejects a specific id where handlers only ever check the wildcard", () => {
    for (const p of ["rbac.perm_1.create_permission", "identity.id_1.read_identity", "rootkey.key_1.delete_root_key"]) {
      const parsed = parseRootPermission(p);
      expect(parsed, p).toHaveProperty("error");
      expect((parsed as { error: string }).error).toContain(".*.");
    }
  });

  it("never throws on arbitrary strings", () => {
    const alphabet = "api.*_ratelimitrbacidentyroky1.. \u0000\u00e9";
    for (let i = 0; i < 2000; i++) {
      let s = "";
      const n = Math.floor(Math.random() * 40);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
      expect(() => parseRootPermission(s)).not.toThrow();
    }
  });
});

describe("notGrantable", () => {
  const t = (p: string): RootTuple => parseRootPermission(p) as RootTuple;

  it("allows what is held exactly, and specific ids under a held wildcard", () => {
    expect(notGrantable(["api.*.read_key"], [t("api.*.read_key"), t("api.api_123.read_key")])).toEqual([]);
    expect(notGrantable(new Set(["api.api_1.read_key"]), [t("api.api_1.read_key")])).toEqual([]);
    expect(notGrantable(["ratelimit.*.limit"], [t("ratelimit.rlns_1.limit")])).toEqual([]);
  });

  it("refuses anything broader or different, naming each in order", () => {
    expect(notGrantable(["api.api_1.read_key"], [t("api.*.read_key")])).toEqual(["api.*.read_key"]);
    expect(notGrantable(["api.api_1.read_key"], [t("api.api_2.read_key")])).toEqual(["api.api_2.read_key"]);
    expect(notGrantable(["api.*.read_key"], [t("api.*.read_api"), t("api.*.read_key"), t("rootkey.*.create_root_key")])).toEqual([
      "api.*.read_api",
      "rootkey.*.create_root_key",
    ]);
    expect(notGrantable([], [t("identity.*.read_identity")])).toEqual(["identity.*.read_identity"]);
  });

  it("treats held strings literally: no glob grants anything", () => {
    expect(notGrantable(["*", "api.*", "api.*.*", "*.*.read_key"], [t("api.*.read_key")])).toEqual(["api.*.read_key"]);
  });

  it("lets the full bootstrap set grant every single permission", () => {
    expect(notGrantable(ALL_ROOT_PERMISSIONS, ALL_ROOT_PERMISSIONS.map(t))).toEqual([]);
  });
});
