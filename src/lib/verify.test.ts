import { describe, expect, it } from "vitest";
import type { VerificationRecord } from "./record";
import { decideRootKey, decideVerification, isExpired } from "./verify";

const NOW = 1_750_000_000_000;

function record(overrides: Partial<VerificationRecord> = {}): VerificationRecord {
  return {
    keyId: "key_1",
    workspaceId: "ws_user",
    keyspaceId: "ks_1",
    apiId: "api_1",
    enabled: true,
    permissions: [],
    roles: [],
    ratelimits: [],
    revision: 0,
    ...overrides,
  };
}

const principal = (permissions: string[], workspaceId = "ws_user") => ({ workspaceId, permissions: new Set(permissions) });
const ALL = principal(["api.*.verify_key"]);

describe("isExpired", () => {
  it("is expired from the expires millisecond on", () => {
    expect(isExpired(undefined, NOW)).toBe(false);
    expect(isExpired(NOW + 1, NOW)).toBe(false);
    expect(isExpired(NOW, NOW)).toBe(true);
    expect(isExpired(NOW - 1, NOW)).toBe(true);
  });
});

describe("decideVerification", () => {
  it("is VALID for a live key the principal may verify", () => {
    expect(decideVerification(record(), ALL, NOW)).toEqual({ valid: true });
    expect(decideVerification(record({ expires: NOW + 1 }), ALL, NOW)).toEqual({ valid: true });
  });

  it("is NOT_FOUND without a record", () => {
    expect(decideVerification(null, ALL, NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("is NOT_FOUND for a record without an API (a root key)", () => {
    const root = record({ apiId: undefined, workspaceId: "ws_user", forWorkspaceId: "ws_user" });
    delete root.apiId;
    expect(decideVerification(root, ALL, NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("is NOT_FOUND for another workspace's key, even with every permission", () => {
    const other = principal(["api.*.verify_key", "api.api_1.verify_key"], "ws_other");
    expect(decideVerification(record(), other, NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("is NOT_FOUND when the principal lacks verify_key", () => {
    const noVerify = principal(["api.*.read_key", "api.*.create_key", "api.api_1.read_key", "api.*.verify_keys", "*"]);
    expect(decideVerification(record(), noVerify, NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
    expect(decideVerification(record(), principal([]), NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("accepts verify_key on the key's own API and refuses it on another API", () => {
    expect(decideVerification(record(), principal(["api.api_1.verify_key"]), NOW)).toEqual({ valid: true });
    expect(decideVerification(record(), principal(["api.api_2.verify_key"]), NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("is DISABLED for a disabled key", () => {
    expect(decideVerification(record({ enabled: false }), ALL, NOW)).toEqual({ valid: false, code: "DISABLED" });
  });

  it("is EXPIRED at exactly the expires millisecond and after", () => {
    expect(decideVerification(record({ expires: NOW }), ALL, NOW)).toEqual({ valid: false, code: "EXPIRED" });
    expect(decideVerification(record({ expires: NOW - 60_000 }), ALL, NOW)).toEqual({ valid: false, code: "EXPIRED" });
    expect(decideVerification(record({ expires: NOW }), ALL, NOW - 1)).toEqual({ valid: true });
  });

  it("checks in Unkey's order: not found, then disabled, then expired", () => {
    const disabledAndExpired = record({ enabled: false, expires: NOW - 1 });
    expect(decideVerification(disabledAndExpired, ALL, NOW)).toEqual({ valid: false, code: "DISABLED" });
    // Missing permission or a foreign workspace hides the key before its state shows.
    expect(decideVerification(disabledAndExpired, principal([]), NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
    expect(decideVerification(disabledAndExpired, principal(["api.*.verify_key"], "ws_other"), NOW)).toEqual({
      valid: false,
      code: "NOT_FOUND",
    });
    expect(decideVerification(record({ expires: NOW - 1 }), principal([]), NOW)).toEqual({ valid: false, code: "NOT_FOUND" });
  });
});

describe("decideVerification: the API's IP allow-list", () => {
  const listed = record({ ipWhitelist: ["203.0.113.0/24", "2001:db8::/32"] });

  it("is VALID from an address inside the list, IPv4 or IPv6 (also IPv4-mapped)", () => {
    for (const ip of ["203.0.113.7", "203.0.113.255", "2001:db8::1", "2001:DB8:ffff::", "::ffff:203.0.113.9"]) {
      expect(decideVerification(listed, ALL, NOW, undefined, ip), ip).toEqual({ valid: true });
    }
  });

  it("is FORBIDDEN from outside the list", () => {
    for (const ip of ["203.0.114.1", "10.0.0.1", "2001:db9::1", "::1"]) {
      expect(decideVerification(listed, ALL, NOW, undefined, ip), ip).toEqual({ valid: false, code: "FORBIDDEN" });
    }
  });

  it("fails closed: no address, or one that does not parse, is FORBIDDEN", () => {
    for (const ip of [undefined, null, "", "unknown", "203.0.113.7, 10.0.0.1", "203.0.113.7:443", "[2001:db8::1]"]) {
      expect(decideVerification(listed, ALL, NOW, undefined, ip), String(ip)).toEqual({ valid: false, code: "FORBIDDEN" });
    }
    // An entry that does not parse (a corrupted row) matches nothing.
    expect(decideVerification(record({ ipWhitelist: ["not a range"] }), ALL, NOW, undefined, "203.0.113.7")).toEqual({
      valid: false,
      code: "FORBIDDEN",
    });
  });

  it("without a list, any caller (or none) is VALID", () => {
    expect(decideVerification(record(), ALL, NOW, undefined, undefined)).toEqual({ valid: true });
    expect(decideVerification(record(), ALL, NOW, undefined, "198.51.100.1")).toEqual({ valid: true });
  });

  it("comes after not found, disabled and expired, and before the permission query", () => {
    const outside = "10.0.0.1";
    expect(decideVerification({ ...listed, enabled: false }, ALL, NOW, undefined, outside)).toEqual({ valid: false, code: "DISABLED" });
    expect(decideVerification({ ...listed, expires: NOW }, ALL, NOW, undefined, outside)).toEqual({ valid: false, code: "EXPIRED" });
    expect(decideVerification(listed, principal([]), NOW, undefined, outside)).toEqual({ valid: false, code: "NOT_FOUND" });
    // The key lacks the queried permission: outside the list it is still FORBIDDEN, inside it the query decides.
    const query = { kind: "perm", slug: "documents.read" } as const;
    expect(decideVerification(listed, ALL, NOW, query, outside)).toEqual({ valid: false, code: "FORBIDDEN" });
    expect(decideVerification(listed, ALL, NOW, query, "203.0.113.7")).toEqual({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
  });
});

describe("decideRootKey", () => {
  const root = (overrides: Partial<VerificationRecord> = {}) => {
    const r = record({ workspaceId: "ws_latch_internal", keyspaceId: "ks_latch_root", forWorkspaceId: "ws_user", ...overrides });
    delete r.apiId;
    return r;
  };

  it("returns the principal of a live root key: its target workspace and permissions", () => {
    const p = decideRootKey(root({ keyId: "key_root", permissions: ["api.*.read_api", "api.*.verify_key"] }), NOW);
    expect(p).not.toBeNull();
    expect(p!.keyId).toBe("key_root");
    expect(p!.workspaceId).toBe("ws_user");
    expect(p!.permissions).toBeInstanceOf(Set);
    expect([...p!.permissions].sort()).toEqual(["api.*.read_api", "api.*.verify_key"]);
    expect(decideRootKey(root({ expires: NOW + 1 }), NOW)).not.toBeNull();
  });

  it("returns null without a record", () => {
    expect(decideRootKey(null, NOW)).toBeNull();
  });

  it("returns null for a key that administers no workspace (an ordinary API key)", () => {
    expect(decideRootKey(record(), NOW)).toBeNull();
    expect(decideRootKey(root({ forWorkspaceId: "" }), NOW)).toBeNull();
  });

  it("returns null for a disabled root key", () => {
    expect(decideRootKey(root({ enabled: false }), NOW)).toBeNull();
  });

  it("returns null for an expired root key, from the expires millisecond on", () => {
    expect(decideRootKey(root({ expires: NOW }), NOW)).toBeNull();
    expect(decideRootKey(root({ expires: NOW - 1 }), NOW)).toBeNull();
  });
});
