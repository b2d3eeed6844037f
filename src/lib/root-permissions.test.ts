import { describe, expect, it } from "vitest";
import { ALL_ROOT_PERMISSIONS, ROOT_ACTIONS, grantsFor, hasAny } from "./root-permissions";

describe("ALL_ROOT_PERMISSIONS", () => {
  it("has no duplicates", () => {
    expect(new Set(ALL_ROOT_PERMISSIONS).size).toBe(ALL_ROOT_PERMISSIONS.length);
  });

  it("has only wildcard tuples of the known resource types", () => {
    for (const p of ALL_ROOT_PERMISSIONS) expect(p).toMatch(/^(api|ratelimit|rbac|identity)\.\*\.[a-z_]+$/);
  });

  it("holds one tuple per action of every resource type", () => {
    const expected = Object.entries(ROOT_ACTIONS).flatMap(([type, actions]) => actions.map((a) => `${type}.*.${a}`));
    expect([...ALL_ROOT_PERMISSIONS].sort()).toEqual(expected.sort());
    for (const p of ["api.*.create_api", "api.*.read_api", "api.*.delete_api", "api.*.create_key", "api.*.read_key", "api.*.update_key", "api.*.delete_key", "api.*.verify_key", "api.*.encrypt_key", "api.*.decrypt_key"]) {
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
