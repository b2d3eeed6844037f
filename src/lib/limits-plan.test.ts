import { describe, expect, it } from "vitest";
import { planLimits } from "./limits-plan";
import type { RatelimitConfig, VerificationRecord } from "./record";

const limit = (name: string, autoApply: boolean, l = 10, duration = 60_000): RatelimitConfig => ({
  id: `rl_${name}`,
  name,
  limit: l,
  duration,
  autoApply,
});

function record(keyLimits: RatelimitConfig[], identityLimits?: RatelimitConfig[]): VerificationRecord {
  return {
    keyId: "key_1",
    workspaceId: "ws_1",
    keyspaceId: "ks_1",
    apiId: "api_1",
    enabled: true,
    permissions: [],
    roles: [],
    ratelimits: keyLimits,
    revision: 0,
    ...(identityLimits ? { identity: { id: "id_1", externalId: "user", ratelimits: identityLimits } } : {}),
  };
}

function summary(plan: ReturnType<typeof planLimits>) {
  if (!plan.ok) throw new Error(`missing ${plan.missing}`);
  return plan.limits.map((l) => ({ name: l.name, target: l.target, cost: l.cost, limit: l.limit, duration: l.duration }));
}

describe("planLimits", () => {
  it("applies nothing for a key without limits", () => {
    expect(planLimits(record([]))).toEqual({ ok: true, limits: [] });
  });

  it("applies every autoApply limit of the key and of its identity at cost 1, and no other", () => {
    const plan = planLimits(record([limit("k-auto", true), limit("k-manual", false)], [limit("i-auto", true), limit("i-manual", false)]));
    expect(summary(plan)).toEqual([
      { name: "k-auto", target: "key", cost: 1, limit: 10, duration: 60_000 },
      { name: "i-auto", target: "identity", cost: 1, limit: 10, duration: 60_000 },
    ]);
    if (plan.ok) expect(plan.limits.map((l) => [l.id, l.autoApply])).toEqual([["rl_k-auto", true], ["rl_i-auto", true]]);
  });

  it("a key limit shadows an identity limit of the same name, even when only the identity's is autoApply", () => {
    expect(summary(planLimits(record([limit("shared", true, 3)], [limit("shared", true, 100)])))).toEqual([
      { name: "shared", target: "key", cost: 1, limit: 3, duration: 60_000 },
    ]);
    expect(summary(planLimits(record([limit("shared", false, 3)], [limit("shared", true, 100)])))).toEqual([]);
    // Named in the request, the key's wins too.
    expect(summary(planLimits(record([limit("shared", false, 3)], [limit("shared", true, 100)]), [{ name: "shared" }]))).toEqual([
      { name: "shared", target: "key", cost: 1, limit: 3, duration: 60_000 },
    ]);
  });

  it("a named limit (key or identity) is applied with the request's cost, default 1", () => {
    const r = record([limit("k", false)], [limit("i", false)]);
    expect(summary(planLimits(r, [{ name: "k" }, { name: "i", cost: 4 }]))).toEqual([
      { name: "k", target: "key", cost: 1, limit: 10, duration: 60_000 },
      { name: "i", target: "identity", cost: 4, limit: 10, duration: 60_000 },
    ]);
  });

  it("the request's limit and duration override the configured ones for this call", () => {
    const r = record([limit("k", true, 10, 60_000)]);
    expect(summary(planLimits(r, [{ name: "k", cost: 0, limit: 2, duration: 5_000 }]))).toEqual([
      { name: "k", target: "key", cost: 0, limit: 2, duration: 5_000 },
    ]);
    expect(summary(planLimits(r, [{ name: "k", limit: 2 }]))).toEqual([{ name: "k", target: "key", cost: 1, limit: 2, duration: 60_000 }]);
  });

  it("naming an autoApply limit replaces its automatic application instead of applying it twice", () => {
    expect(summary(planLimits(record([limit("k", true)]), [{ name: "k", cost: 5 }]))).toEqual([
      { name: "k", target: "key", cost: 5, limit: 10, duration: 60_000 },
    ]);
  });

  it("an unknown name is missing (412), even alongside known ones", () => {
    expect(planLimits(record([limit("k", true)]), [{ name: "nope" }])).toEqual({ ok: false, missing: "nope" });
    expect(planLimits(record([]), [{ name: "nope", limit: 5 }])).toEqual({ ok: false, missing: "nope" });
    expect(planLimits(record([]), [{ name: "nope", duration: 5_000 }])).toEqual({ ok: false, missing: "nope" });
    // Without an identity, an identity limit name cannot match.
    expect(planLimits(record([]), [{ name: "i" }])).toEqual({ ok: false, missing: "i" });
  });

  it("an unknown name with limit and duration is an ad-hoc key limit", () => {
    const plan = planLimits(record([]), [{ name: "adhoc", limit: 3, duration: 10_000, cost: 2 }]);
    expect(plan).toEqual({
      ok: true,
      limits: [{ id: expect.any(String), name: "adhoc", limit: 3, duration: 10_000, autoApply: false, target: "key", cost: 2 }],
    });
  });
});
