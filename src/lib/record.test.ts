import { describe, expect, it } from "vitest";
import { isTombstone, needsKeyState, parseEdgeEntry, type VerificationRecord } from "./record";

function record(overrides: Partial<VerificationRecord> = {}): VerificationRecord {
  return {
    keyId: "key_1",
    workspaceId: "ws_1",
    keyspaceId: "ks_1",
    apiId: "api_1",
    enabled: true,
    permissions: [],
    roles: [],
    ratelimits: [],
    revision: 3,
    ...overrides,
  };
}

const limit = { id: "rl_1", name: "requests", limit: 10, duration: 60_000, autoApply: true };

describe("parseEdgeEntry", () => {
  it("accepts a record entry, also after a JSON round trip", () => {
    const entry = { v: 1, record: record({ name: "n", meta: { a: 1 }, expires: 5, permissions: ["p"], roles: ["r"] }) };
    const parsed = parseEdgeEntry(JSON.parse(JSON.stringify(entry)));
    expect(parsed).toEqual(entry);
    expect(isTombstone(parsed!)).toBe(false);
  });

  it("accepts a tombstone", () => {
    const parsed = parseEdgeEntry({ v: 1, tombstone: true, revision: 7 });
    expect(parsed).toEqual({ v: 1, tombstone: true, revision: 7 });
    expect(isTombstone(parsed!)).toBe(true);
  });

  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a string", "key"],
    ["a number", 1],
    ["an array", []],
    ["an empty object", {}],
    ["version 2", { v: 2, record: record() }],
    ["version as string", { v: "1", record: record() }],
    ["no version", { record: record() }],
    ["v:1 alone", { v: 1 }],
    ["record null", { v: 1, record: null }],
    ["tombstone without revision", { v: 1, tombstone: true }],
    ["tombstone with string revision", { v: 1, tombstone: true, revision: "7" }],
    ["tombstone false", { v: 1, tombstone: false, revision: 7 }],
  ])("rejects %s", (_name, value) => {
    expect(parseEdgeEntry(value)).toBeNull();
  });

  it.each(["permissions", "roles", "ratelimits"] as const)("rejects a record without the %s array", (field) => {
    const r: Record<string, unknown> = { ...record() };
    delete r[field];
    expect(parseEdgeEntry({ v: 1, record: r })).toBeNull();
    expect(parseEdgeEntry({ v: 1, record: { ...record(), [field]: "x" } })).toBeNull();
  });

  it.each([
    ["keyId", 1],
    ["workspaceId", null],
    ["keyspaceId", undefined],
    ["enabled", "true"],
    ["revision", "3"],
  ] as const)("rejects a record whose %s is %j", (field, value) => {
    expect(parseEdgeEntry({ v: 1, record: { ...record(), [field]: value } })).toBeNull();
  });
});

describe("parseEdgeEntry: the IP allow-list", () => {
  it("accepts a record with an allow-list, and one without", () => {
    const entry = { v: 1, record: record({ ipWhitelist: ["10.0.0.0/8", "2001:db8::/32"] }) };
    expect(parseEdgeEntry(JSON.parse(JSON.stringify(entry)))).toEqual(entry);
    expect(parseEdgeEntry({ v: 1, record: record() })).not.toBeNull();
  });

  it.each([
    ["a string", "10.0.0.0/8"],
    ["null", null],
    ["an object", { 0: "10.0.0.0/8" }],
    ["an array with a non-string", ["10.0.0.0/8", 7]],
  ])("rejects an allow-list that is %s (reloaded from D1 rather than read as no list)", (_name, value) => {
    expect(parseEdgeEntry({ v: 1, record: { ...record(), ipWhitelist: value } })).toBeNull();
  });
});

describe("needsKeyState", () => {
  it("is false for a key with no credits and no limits", () => {
    expect(needsKeyState(record())).toBe(false);
    expect(needsKeyState(record({ identity: { id: "id_1", externalId: "u", ratelimits: [] } }))).toBe(false);
  });

  it("is true with credits, even zero remaining", () => {
    expect(needsKeyState(record({ credits: { remaining: 0, lastRefillAt: 0 } }))).toBe(true);
    expect(needsKeyState(record({ credits: { remaining: 5, lastRefillAt: 0, refill: { amount: 5 } } }))).toBe(true);
  });

  it("is true with key-level ratelimits", () => {
    expect(needsKeyState(record({ ratelimits: [limit] }))).toBe(true);
    expect(needsKeyState(record({ ratelimits: [{ ...limit, autoApply: false }] }))).toBe(true);
  });

  it("is true with identity-level ratelimits", () => {
    expect(needsKeyState(record({ identity: { id: "id_1", externalId: "u", ratelimits: [limit] } }))).toBe(true);
  });
});
