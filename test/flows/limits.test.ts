/**
 * Rate limits through keys.verifyKey: autoApply and named limits on keys and identities, ad-hoc limits,
 * overrides, peeks, the `ratelimits[]` response, window roll-over with an injected clock, and the promise
 * that a key without limits or credits never reaches a Durable Object.
 *
 * Identity limits are inserted straight into D1 (`ratelimits` with `identity_id`) and published with
 * apis.listKeys `revalidateKeysCache: true`, so these tests do not depend on the identities endpoints.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type CreateAppOptions } from "../../src/app";
import { newId } from "../../src/lib/ids";
import type { KeysVerifyKeyResponse } from "../../src/routes/v2/keys.verifyKey";
import type { KeyStateClient, LimiterClient } from "../../src/services/key-state-client";
import { Harness, type Reply, appClient } from "../harness";

const HOUR = 3_600_000;
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";
const PRECONDITION_FAILED = "https://unkey.com/docs/errors/unkey/application/precondition_failed";
const RATELIMIT_FIELDS = ["autoApply", "duration", "exceeded", "id", "limit", "name", "remaining", "reset"];

type VerifyData = KeysVerifyKeyResponse["data"];

/** A Worker app built with test overrides (clock, failing clients), called like the real one. */
function appWith(opts: CreateAppOptions) {
  return appClient(opts);
}

async function verify(h: Harness, body: Record<string, unknown>): Promise<VerifyData> {
  const res = await h.post<KeysVerifyKeyResponse>("/v2/keys.verifyKey", body);
  if (res.status !== 200) throw new Error(`verifyKey failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function identityIdOf(h: Harness, keyId: string): Promise<string> {
  const res = await h.post("/v2/keys.getKey", { keyId });
  const id = res.body.data.identity?.id;
  if (typeof id !== "string") throw new Error(`key ${keyId} has no identity`);
  return id;
}

/** Gives an identity a limit (as identities.updateIdentity would) and republishes the API's keys. */
async function addIdentityLimit(
  h: Harness,
  identityId: string,
  rl: { name: string; limit: number; duration: number; autoApply: boolean },
): Promise<string> {
  const id = newId("rl");
  await env.DB.prepare(
    'INSERT INTO ratelimits (id, workspace_id, identity_id, name, "limit", duration, auto_apply, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
    .bind(id, h.workspaceId, identityId, rl.name, rl.limit, rl.duration, rl.autoApply ? 1 : 0, Date.now())
    .run();
  const res = await h.post("/v2/apis.listKeys", { apiId: h.apiId, revalidateKeysCache: true });
  if (res.status !== 200) throw new Error(`listKeys failed: ${JSON.stringify(res.body)}`);
  return id;
}

describe("rate limits in verifyKey", () => {
  describe("autoApply limits on the key", () => {
    it("admit exactly `limit` per window; ratelimits[] carries all 8 fields and marks the refusing limit", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        ratelimits: [
          { name: "tight", limit: 2, duration: HOUR, autoApply: true },
          { name: "loose", limit: 5, duration: HOUR, autoApply: true },
        ],
      });
      const configured = (await h.post("/v2/keys.getKey", { keyId })).body.data.ratelimits as { id: string; name: string }[];
      const idOf = (name: string) => configured.find((r) => r.name === name)?.id;
      const before = Date.now();
      const first = await verify(h, { key });
      expect(first).toMatchObject({ valid: true, code: "VALID", keyId });
      expect(first.ratelimits).toHaveLength(2);
      for (const r of first.ratelimits!) {
        expect(Object.keys(r).sort()).toEqual(RATELIMIT_FIELDS);
        expect(r.id).toBe(idOf(r.name));
        expect(r.exceeded).toBe(false);
        expect(r.duration).toBe(HOUR);
        expect(r.autoApply).toBe(true);
        expect(Number.isInteger(r.reset)).toBe(true);
        // reset is the unix ms at which the current window ends.
        expect(r.reset).toBeGreaterThan(before);
        expect(r.reset).toBeLessThanOrEqual(Date.now() + HOUR);
      }
      const byName = (d: VerifyData, name: string) => d.ratelimits?.find((r) => r.name === name);
      expect(byName(first, "tight")).toMatchObject({ limit: 2, remaining: 1 });
      expect(byName(first, "loose")).toMatchObject({ limit: 5, remaining: 4 });

      expect((await verify(h, { key })).code).toBe("VALID");
      const third = await verify(h, { key });
      expect(third).toMatchObject({ valid: false, code: "RATE_LIMITED", keyId });
      expect(byName(third, "tight")).toMatchObject({ exceeded: true, remaining: 0, limit: 2 });
      // All-or-nothing: the refused request took nothing from the limit that would have passed.
      expect(byName(third, "loose")).toMatchObject({ exceeded: false, remaining: 3, limit: 5 });
      expect((await verify(h, { key })).code).toBe("RATE_LIMITED");
    });

    it("the SDK receives ratelimits[] in the shape it expects", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 1, duration: HOUR, autoApply: true }] });
      const unkey = h.sdk();
      const ok = await unkey.keys.verifyKey({ key });
      expect(ok.data).toMatchObject({ valid: true, code: "VALID" });
      expect(ok.data.ratelimits).toEqual([
        {
          exceeded: false,
          id: expect.stringMatching(/^rl_/),
          name: "requests",
          limit: 1,
          duration: HOUR,
          reset: expect.any(Number),
          remaining: 0,
          autoApply: true,
        },
      ]);
      const limited = await unkey.keys.verifyKey({ key });
      expect(limited.data).toMatchObject({ valid: false, code: "RATE_LIMITED" });
      expect(limited.data.ratelimits?.[0]).toMatchObject({ exceeded: true, remaining: 0 });
    });

    it("a limit without autoApply is applied only when the request names it", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "manual", limit: 1, duration: HOUR, autoApply: false }] });
      for (let i = 0; i < 3; i++) {
        const res = await verify(h, { key });
        expect(res.code).toBe("VALID");
        expect(res.ratelimits ?? []).toEqual([]);
      }
      const named = await verify(h, { key, ratelimits: [{ name: "manual" }] });
      expect(named.code).toBe("VALID");
      expect(named.ratelimits).toEqual([expect.objectContaining({ name: "manual", autoApply: false, remaining: 0, exceeded: false })]);
      expect((await verify(h, { key, ratelimits: [{ name: "manual" }] })).code).toBe("RATE_LIMITED");
      // Unnamed, it still does not apply.
      expect((await verify(h, { key })).code).toBe("VALID");
    });
  });

  describe("named limits in the request", () => {
    it("412 precondition_failed for a name that exists nowhere, and nothing is consumed", async () => {
      const h = await Harness.init();
      const plain = await h.createKey();
      const limited = await h.createKey({
        credits: { remaining: 5 },
        ratelimits: [{ name: "requests", limit: 1, duration: HOUR, autoApply: true }],
      });
      for (const key of [plain.key, limited.key]) {
        const res = await h.post("/v2/keys.verifyKey", { key, ratelimits: [{ name: "does-not-exist" }] });
        expect(res.status).toBe(412);
        expect(res.body.error.type).toBe(PRECONDITION_FAILED);
        expect(res.body.error.detail).toContain("does-not-exist");
        // A limit and duration alone are not enough for an ad-hoc limit: both are needed.
        const half = await h.post("/v2/keys.verifyKey", { key, ratelimits: [{ name: "does-not-exist", limit: 5 }] });
        expect(half.status).toBe(412);
      }
      // The refused requests consumed neither the autoApply limit nor a credit.
      const after = await verify(h, { key: limited.key });
      expect(after).toMatchObject({ code: "VALID", credits: 4 });
      expect(after.ratelimits?.[0]).toMatchObject({ name: "requests", remaining: 0 });
    });

    it("an unknown name with limit and duration is an ad-hoc limit on the key", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const adhoc = { name: "burst", limit: 2, duration: HOUR };
      const first = await verify(h, { key, ratelimits: [adhoc] });
      expect(first.code).toBe("VALID");
      expect(first.ratelimits).toEqual([
        { exceeded: false, id: expect.any(String), name: "burst", limit: 2, duration: HOUR, reset: expect.any(Number), remaining: 1, autoApply: false },
      ]);
      expect((await verify(h, { key, ratelimits: [adhoc] })).code).toBe("VALID");
      const third = await verify(h, { key, ratelimits: [adhoc] });
      expect(third.code).toBe("RATE_LIMITED");
      expect(third.ratelimits?.[0]).toMatchObject({ name: "burst", exceeded: true, remaining: 0 });
      // Other keys have their own counters.
      const other = await h.createKey();
      expect((await verify(h, { key: other.key, ratelimits: [adhoc] })).code).toBe("VALID");
    });

    it("the request's limit overrides the configured one for that call", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 100, duration: HOUR, autoApply: true }] });
      const first = await verify(h, { key, ratelimits: [{ name: "requests", limit: 2 }] });
      expect(first.ratelimits).toEqual([expect.objectContaining({ name: "requests", limit: 2, remaining: 1 })]);
      expect((await verify(h, { key, ratelimits: [{ name: "requests", limit: 2 }] })).code).toBe("VALID");
      expect((await verify(h, { key, ratelimits: [{ name: "requests", limit: 2 }] })).code).toBe("RATE_LIMITED");
      // With the configured limit, the same counter (2 used) has room.
      expect((await verify(h, { key })).ratelimits?.[0]).toMatchObject({ limit: 100, remaining: 97 });
    });

    it("cost 0 peeks: it passes, reports what is left and consumes nothing, even when exhausted", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 2, duration: HOUR, autoApply: true }] });
      for (let i = 0; i < 3; i++) {
        const peek = await verify(h, { key, ratelimits: [{ name: "requests", cost: 0 }] });
        expect(peek.code).toBe("VALID");
        expect(peek.ratelimits?.[0]).toMatchObject({ remaining: 2, exceeded: false });
      }
      expect((await verify(h, { key })).code).toBe("VALID");
      expect((await verify(h, { key })).code).toBe("VALID");
      expect((await verify(h, { key })).code).toBe("RATE_LIMITED");
      const exhausted = await verify(h, { key, ratelimits: [{ name: "requests", cost: 0 }] });
      expect(exhausted.code).toBe("VALID");
      expect(exhausted.ratelimits?.[0]).toMatchObject({ remaining: 0, exceeded: false });
    });

    it("a cost above what is left is refused and consumes nothing", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 5, duration: HOUR, autoApply: false }] });
      const big = await verify(h, { key, ratelimits: [{ name: "requests", cost: 6 }] });
      expect(big.code).toBe("RATE_LIMITED");
      expect(big.ratelimits?.[0]).toMatchObject({ exceeded: true, remaining: 5 });
      const fits = await verify(h, { key, ratelimits: [{ name: "requests", cost: 5 }] });
      expect(fits.code).toBe("VALID");
      expect(fits.ratelimits?.[0]).toMatchObject({ remaining: 0 });
    });

    it("400, never 500, for a negative cost, a too short or too long duration, a bad name, duplicates, or a negative limit", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 5, duration: HOUR, autoApply: true }] });
      const cases: [unknown, string][] = [
        [[{ name: "requests", cost: -1 }], "body.ratelimits[0].cost"],
        [[{ name: "requests", limit: 5, duration: 0 }], "body.ratelimits[0].duration"],
        [[{ name: "requests", limit: 5, duration: 999 }], "body.ratelimits[0].duration"],
        [[{ name: "requests", limit: 5, duration: 2_592_000_001 }], "body.ratelimits[0].duration"],
        [[{ name: "requests", limit: -1 }], "body.ratelimits[0].limit"],
        [[{ name: "ab" }], "body.ratelimits[0].name"],
        [[{ name: "x".repeat(256) }], "body.ratelimits[0].name"],
        [[{ name: "requests", cost: 1.5 }], "body.ratelimits[0].cost"],
        [[{ name: "requests" }, { name: "requests" }], "body.ratelimits"],
        [[{ cost: 1 }], "body.ratelimits[0].name"],
        [[{ name: "requests", extra: 1 }], "body.ratelimits[0]"],
        ["requests", "body.ratelimits"],
      ];
      for (const [ratelimits, location] of cases) {
        const res = await h.post("/v2/keys.verifyKey", { key, ratelimits });
        expect(res.status, JSON.stringify(ratelimits)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        const locations: string[] = res.body.error.errors.map((e: { location: string }) => e.location);
        expect(locations.some((l) => l.startsWith(location)), `${JSON.stringify(ratelimits)} → ${locations}`).toBe(true);
      }
      // None of them consumed anything.
      expect((await verify(h, { key })).ratelimits?.[0]).toMatchObject({ remaining: 4 });
    });
  });

  describe("identity limits", () => {
    it("an autoApply identity limit is shared by every key of the identity", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "shared-user" });
      const b = await h.createKey({ externalId: "shared-user" });
      const stranger = await h.createKey({ externalId: "another-user" });
      const rlId = await addIdentityLimit(h, await identityIdOf(h, a.keyId), { name: "per-user", limit: 3, duration: HOUR, autoApply: true });

      const first = await verify(h, { key: a.key });
      expect(first.code).toBe("VALID");
      expect(first.ratelimits).toEqual([
        { exceeded: false, id: rlId, name: "per-user", limit: 3, duration: HOUR, reset: expect.any(Number), remaining: 2, autoApply: true },
      ]);
      expect(first.identity?.ratelimits).toEqual([{ id: rlId, name: "per-user", limit: 3, duration: HOUR, autoApply: true }]);
      expect((await verify(h, { key: b.key })).code).toBe("VALID");
      expect((await verify(h, { key: a.key })).code).toBe("VALID");
      for (const key of [a.key, b.key]) {
        const refused = await verify(h, { key });
        expect(refused.code).toBe("RATE_LIMITED");
        expect(refused.ratelimits?.[0]).toMatchObject({ id: rlId, exceeded: true, remaining: 0 });
      }
      // Another identity is not affected.
      const other = await verify(h, { key: stranger.key });
      expect(other.code).toBe("VALID");
      expect(other.ratelimits ?? []).toEqual([]);
    });

    it("a named identity limit is applied when the request names it", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "named-user" });
      await addIdentityLimit(h, await identityIdOf(h, a.keyId), { name: "expensive", limit: 1, duration: HOUR, autoApply: false });
      expect((await verify(h, { key: a.key })).code).toBe("VALID");
      expect((await verify(h, { key: a.key })).code).toBe("VALID");
      expect((await verify(h, { key: a.key, ratelimits: [{ name: "expensive" }] })).code).toBe("VALID");
      expect((await verify(h, { key: a.key, ratelimits: [{ name: "expensive" }] })).code).toBe("RATE_LIMITED");
    });

    it("a key limit shadows the identity limit of the same name", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "shadowed", ratelimits: [{ name: "requests", limit: 4, duration: HOUR, autoApply: true }] });
      await addIdentityLimit(h, await identityIdOf(h, a.keyId), { name: "requests", limit: 1, duration: HOUR, autoApply: true });
      const codes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await verify(h, { key: a.key });
        codes.push(res.code);
        expect(res.ratelimits).toHaveLength(1);
        expect(res.ratelimits?.[0]).toMatchObject({ name: "requests", limit: 4 });
      }
      expect(codes).toEqual(["VALID", "VALID", "VALID", "VALID", "RATE_LIMITED"]);
    });

    it("when the key's own limit refuses, the identity's tokens are given back", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "refunded", ratelimits: [{ name: "per-key", limit: 1, duration: HOUR, autoApply: true }] });
      const b = await h.createKey({ externalId: "refunded" });
      await addIdentityLimit(h, await identityIdOf(h, a.keyId), { name: "per-user", limit: 3, duration: HOUR, autoApply: true });
      expect((await verify(h, { key: a.key })).code).toBe("VALID"); // identity 1 of 3
      for (let i = 0; i < 3; i++) {
        const refused = await verify(h, { key: a.key });
        expect(refused.code).toBe("RATE_LIMITED");
        expect(refused.ratelimits?.find((r) => r.name === "per-key")).toMatchObject({ exceeded: true });
      }
      // The three refused verifies consumed nothing from the identity: b still has 2 of 3.
      const viaB = await verify(h, { key: b.key });
      expect(viaB.code).toBe("VALID");
      expect(viaB.ratelimits).toEqual([expect.objectContaining({ name: "per-user", remaining: 1 })]);
      expect((await verify(h, { key: b.key })).code).toBe("VALID");
      expect((await verify(h, { key: b.key })).code).toBe("RATE_LIMITED");
    });
  });

  describe("window roll-over (injected clock)", () => {
    it("refuses until the window has slid far enough, then admits again", async () => {
      const h = await Harness.init();
      const duration = 60_000;
      const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 2, duration, autoApply: true }] });
      // A window boundary in the future, so the isolate cache (keyed by the same clock) never serves stale data.
      const t0 = (Math.floor(Date.now() / duration) + 10) * duration;
      let now = t0 + 1_000;
      const call = appWith({ clock: { now: () => now } });
      const at = async (t: number) => {
        now = t;
        const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key }, h.rootKey);
        expect(res.status).toBe(200);
        return res.body.data;
      };
      expect((await at(t0 + 1_000)).code).toBe("VALID");
      const second = await at(t0 + 2_000);
      expect(second.code).toBe("VALID");
      expect(second.ratelimits?.[0]).toMatchObject({ remaining: 0, reset: t0 + duration });
      expect((await at(t0 + 3_000)).code).toBe("RATE_LIMITED");
      expect((await at(t0 + duration - 1)).code).toBe("RATE_LIMITED");
      // At the boundary the previous window still counts in full.
      const boundary = await at(t0 + duration);
      expect(boundary.code).toBe("RATE_LIMITED");
      expect(boundary.ratelimits?.[0]).toMatchObject({ reset: t0 + 2 * duration });
      // Half-way through the next window, half of the previous window's 2 (= 1) still counts: one more fits.
      expect((await at(t0 + duration + duration / 2)).code).toBe("VALID");
      expect((await at(t0 + duration + duration / 2 + 1)).code).toBe("RATE_LIMITED");
      // A whole idle window later, the count is fresh.
      const fresh = await at(t0 + 3 * duration);
      expect(fresh.code).toBe("VALID");
      expect(fresh.ratelimits?.[0]).toMatchObject({ remaining: 1, reset: t0 + 4 * duration });
    });

    it("an identity limit resets after its window too", async () => {
      const h = await Harness.init();
      const duration = 10_000;
      const a = await h.createKey({ externalId: "rolling-user" });
      const b = await h.createKey({ externalId: "rolling-user" });
      await addIdentityLimit(h, await identityIdOf(h, a.keyId), { name: "per-user", limit: 1, duration, autoApply: true });
      const t0 = (Math.floor(Date.now() / duration) + 100) * duration;
      let now = t0;
      const call = appWith({ clock: { now: () => now } });
      const at = async (t: number, key: string) => {
        now = t;
        return (await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key }, h.rootKey)).body.data.code;
      };
      expect(await at(t0 + 1, a.key)).toBe("VALID");
      expect(await at(t0 + 2, b.key)).toBe("RATE_LIMITED");
      expect(await at(t0 + 2 * duration, b.key)).toBe("VALID");
      expect(await at(t0 + 2 * duration + 1, a.key)).toBe("RATE_LIMITED");
    });
  });

  describe("Durable Object calls", () => {
    function recorders() {
      const calls: string[] = [];
      const fail = (what: string) => () => {
        calls.push(what);
        return Promise.reject(new Error(`${what} must not be called`));
      };
      const keyState: KeyStateClient = {
        isStale: fail("isStale"),
        bump: fail("bump"),
        verify: fail("verify"),
        changeCredits: fail("changeCredits"),
        readCredits: fail("readCredits"),
      };
      const limiter: LimiterClient = { limit: fail("limit"), refund: fail("refund") };
      return { calls, opts: { keyState: () => keyState, limiter: () => limiter } satisfies CreateAppOptions };
    }

    it("a verify of a key without limits or credits makes no Durable Object call", async () => {
      const h = await Harness.init();
      const plain = await h.createKey({ name: "plain", externalId: "no-limits-user", meta: { a: 1 } });
      const { calls, opts } = recorders();
      const call = appWith(opts);
      for (let i = 0; i < 3; i++) {
        const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key: plain.key, credits: { cost: 5 } }, h.rootKey);
        expect(res.status).toBe(200);
        expect(res.body.data).toMatchObject({ valid: true, code: "VALID", keyId: plain.keyId });
      }
      expect(calls).toEqual([]);
      // The recorder does see calls for a key that has limits (so the empty list above means something).
      const limited = await h.createKey({ ratelimits: [{ name: "requests", limit: 5, duration: HOUR, autoApply: true }] });
      await call("/v2/keys.verifyKey", { key: limited.key }, h.rootKey);
      expect(calls).toContain("verify");
    });
  });
});
