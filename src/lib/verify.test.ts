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
