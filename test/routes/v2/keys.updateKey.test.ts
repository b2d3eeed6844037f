import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { VerificationRecord } from "../../../src/lib/record";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysUpdateKeyResponse } from "../../../src/routes/v2/keys.updateKey";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

type KeyData = KeysGetKeyResponse["data"];
type VerifyData = Awaited<ReturnType<Harness["verify"]>>;

async function getKey(h: Harness, keyId: string): Promise<KeyData> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

async function update(h: Harness, body: Record<string, unknown>): Promise<void> {
  const res = await h.post<KeysUpdateKeyResponse>("/v2/keys.updateKey", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.data).toEqual({});
  expect(res.body.meta.requestId).toMatch(/^req_/);
}

/**
 * The verify right after a change (this isolate, whose cache held the old record), and one after the isolate
 * cache is dropped, i.e. what another isolate that reads the published KV entry answers. Both must agree.
 */
async function verifyHotAndCold(h: Harness, key: string): Promise<[VerifyData, VerifyData]> {
  const hot = await h.verify(key);
  recordCache(5000).clear();
  const cold = await h.verify(key);
  return [hot, cold];
}

/** The record KV holds for `key` (what a cold isolate reads before D1). */
async function kvRecord(key: string): Promise<VerificationRecord | undefined> {
  const entry = await env.EDGE.get<{ record?: VerificationRecord }>(`key:hash:${await hashKey(key)}`, "json");
  return entry?.record;
}

describe("keys.updateKey", () => {
  describe("happy", () => {
    it("omitted fields stay unchanged; updatedAt is set", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 3_600_000;
      const { keyId, key } = await h.createKey({
        prefix: "sk",
        name: "original",
        meta: { plan: "pro" },
        expires,
        externalId: "keep_me",
        credits: { remaining: 10, refill: { interval: "daily", amount: 5 } },
        ratelimits: [{ name: "requests", limit: 100, duration: 60_000, autoApply: true }],
      });
      const before = await getKey(h, keyId);
      expect(before).not.toHaveProperty("updatedAt");
      const t0 = Date.now();
      await update(h, { keyId });
      const after = await getKey(h, keyId);
      const { updatedAt, ...rest } = after;
      expect(rest).toEqual(before);
      expect(updatedAt).toBeGreaterThanOrEqual(t0 - 1000);
      expect(updatedAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(updatedAt).toBeGreaterThanOrEqual(after.createdAt);

      await update(h, { keyId, name: "renamed" });
      const renamed = await getKey(h, keyId);
      expect(renamed).toMatchObject({
        name: "renamed",
        meta: { plan: "pro" },
        expires,
        identity: { id: before.identity?.id, externalId: "keep_me" },
        credits: { remaining: 10, refill: { interval: "daily", amount: 5 } },
        ratelimits: before.ratelimits,
        enabled: true,
      });
      const [hot, cold] = await verifyHotAndCold(h, key);
      for (const v of [hot, cold]) expect(v).toMatchObject({ valid: true, code: "VALID", name: "renamed", meta: { plan: "pro" }, expires });
    });

    it("name, meta, expires, externalId: a value sets, null clears, and verify sees it at once and from KV", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "old", meta: { v: 1 }, expires: Date.now() + 3_600_000, externalId: "owner_a" });
      await h.verify(key); // warm this isolate's cache with the old record

      const expires = Date.now() + 7_200_000;
      await update(h, { keyId, name: "new", meta: { v: 2, nested: { x: true } }, expires, externalId: "owner_b" });
      const set = await getKey(h, keyId);
      expect(set).toMatchObject({ name: "new", meta: { v: 2, nested: { x: true } }, expires, identity: { externalId: "owner_b" } });
      for (const v of await verifyHotAndCold(h, key)) {
        expect(v).toMatchObject({
          valid: true,
          code: "VALID",
          name: "new",
          meta: { v: 2, nested: { x: true } },
          expires,
          identity: { id: set.identity?.id, externalId: "owner_b" },
        });
      }

      await h.verify(key);
      await update(h, { keyId, name: null, meta: null, expires: null, externalId: null });
      const cleared = await getKey(h, keyId);
      for (const field of ["name", "meta", "expires", "identity"]) expect(cleared).not.toHaveProperty(field);
      expect(JSON.stringify(cleared)).not.toContain("null");
      for (const v of await verifyHotAndCold(h, key)) {
        expect(v).toMatchObject({ valid: true, code: "VALID", keyId });
        for (const field of ["name", "meta", "expires", "identity"]) expect(v).not.toHaveProperty(field);
      }
    });

    it("enabled:false → next verify DISABLED; enabled:true → VALID again", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      expect((await h.verify(key)).code).toBe("VALID");

      await update(h, { keyId, enabled: false });
      expect((await getKey(h, keyId)).enabled).toBe(false);
      for (const v of await verifyHotAndCold(h, key)) expect(v).toMatchObject({ valid: false, code: "DISABLED", enabled: false });

      await update(h, { keyId, enabled: true });
      expect((await getKey(h, keyId)).enabled).toBe(true);
      for (const v of await verifyHotAndCold(h, key)) expect(v).toMatchObject({ valid: true, code: "VALID", enabled: true });
    });

    it("disabling a key with limits and credits (verifies go through its Durable Object) is seen at once", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        credits: { remaining: 1000 },
        ratelimits: [{ name: "requests", limit: 1000, duration: 60_000, autoApply: true }],
      });
      expect((await h.verify(key)).code).toBe("VALID");
      await update(h, { keyId, enabled: false });
      for (const v of await verifyHotAndCold(h, key)) expect(v.code).toBe("DISABLED");
      await update(h, { keyId, enabled: true });
      for (const v of await verifyHotAndCold(h, key)) expect(v.code).toBe("VALID");
    });

    it("expires in the past → next verify EXPIRED; expires:null → VALID again", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ expires: Date.now() + 3_600_000 });
      expect((await h.verify(key)).code).toBe("VALID");

      const past = Date.now() - 1000;
      await update(h, { keyId, expires: past });
      expect((await getKey(h, keyId)).expires).toBe(past);
      for (const v of await verifyHotAndCold(h, key)) expect(v).toMatchObject({ valid: false, code: "EXPIRED", expires: past });

      await update(h, { keyId, expires: null });
      for (const v of await verifyHotAndCold(h, key)) {
        expect(v.code).toBe("VALID");
        expect(v).not.toHaveProperty("expires");
      }
    });

    it("externalId change moves the key to another identity; the old identity stays for its other keys", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "team_a" });
      const sibling = await h.createKey({ externalId: "team_a" });
      const b = await h.createKey({ externalId: "team_b" });
      const idA = (await getKey(h, a.keyId)).identity?.id;
      const idB = (await getKey(h, b.keyId)).identity?.id;
      expect(idA).toMatch(/^id_/);
      expect(idB).toMatch(/^id_/);
      expect(idA).not.toBe(idB);
      await h.verify(a.key);

      // To an existing identity: linked, not duplicated.
      await update(h, { keyId: a.keyId, externalId: "team_b" });
      expect((await getKey(h, a.keyId)).identity).toEqual({ id: idB, externalId: "team_b" });
      for (const v of await verifyHotAndCold(h, a.key)) expect(v.identity).toEqual({ id: idB, externalId: "team_b" });
      expect((await getKey(h, sibling.keyId)).identity).toEqual({ id: idA, externalId: "team_a" });
      const listA = await h.post("/v2/apis.listKeys", { apiId: h.apiId, externalId: "team_a" });
      expect(listA.body.data.map((k: { keyId: string }) => k.keyId)).toEqual([sibling.keyId]);
      const listB = await h.post("/v2/apis.listKeys", { apiId: h.apiId, externalId: "team_b" });
      expect(listB.body.data.map((k: { keyId: string }) => k.keyId).sort()).toEqual([a.keyId, b.keyId].sort());

      // To a new identity: created.
      await update(h, { keyId: a.keyId, externalId: "team_c" });
      const moved = (await getKey(h, a.keyId)).identity;
      expect(moved?.externalId).toBe("team_c");
      expect(moved?.id).toMatch(/^id_/);
      expect([idA, idB]).not.toContain(moved?.id);
      for (const v of await verifyHotAndCold(h, a.key)) expect(v.identity).toEqual(moved);
    });

    it("ratelimits replace by name: existing names keep their id, names not sent are removed", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        ratelimits: [
          { name: "requests", limit: 10, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 1000, duration: 1000, autoApply: false },
        ],
      });
      const before = await getKey(h, keyId);
      const requestsId = before.ratelimits?.find((r) => r.name === "requests")?.id;
      expect(requestsId).toMatch(/^rl_/);
      await h.verify(key);

      await update(h, {
        keyId,
        ratelimits: [
          { name: "requests", limit: 20, duration: 30_000, autoApply: false },
          { name: "bursts", limit: 3, duration: 1000, autoApply: true },
        ],
      });
      const after = await getKey(h, keyId);
      const sorted = [...(after.ratelimits ?? [])].sort((x, y) => x.name.localeCompare(y.name));
      expect(sorted).toEqual([
        { id: expect.stringMatching(/^rl_/), name: "bursts", limit: 3, duration: 1000, autoApply: true },
        { id: requestsId, name: "requests", limit: 20, duration: 30_000, autoApply: false },
      ]);
      expect(sorted[0]?.id).not.toBe(before.ratelimits?.find((r) => r.name === "tokens")?.id);

      // The published record (what another isolate reads) carries the new set.
      const published = await kvRecord(key);
      expect([...(published?.ratelimits ?? [])].sort((x, y) => x.name.localeCompare(y.name))).toEqual(sorted);
      for (const v of await verifyHotAndCold(h, key)) expect(v.code).toBe("VALID");

      // Omitting ratelimits keeps them; an empty list removes them all.
      await update(h, { keyId, name: "x" });
      expect((await getKey(h, keyId)).ratelimits?.length).toBe(2);
      await update(h, { keyId, ratelimits: [] });
      expect(await getKey(h, keyId)).not.toHaveProperty("ratelimits");
      expect((await kvRecord(key))?.ratelimits).toEqual([]);
      for (const v of await verifyHotAndCold(h, key)) expect(v.code).toBe("VALID");
    });

    it("credits: remaining changes alone keep the refill; refill:null clears only the refill", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 1 } } });
      await h.verify(key);

      await update(h, { keyId, credits: { remaining: 500 } });
      expect((await getKey(h, keyId)).credits).toEqual({ remaining: 500, refill: { interval: "monthly", amount: 10, refillDay: 1 } });
      for (const v of await verifyHotAndCold(h, key)) {
        expect(v.code).toBe("VALID");
        expect(v.credits).toBeGreaterThan(10);
      }
      // The edge record stores the balance as the key's object does: refillDay set = monthly.
      expect((await kvRecord(key))?.credits?.refill).toEqual({ amount: 10, refillDay: 1 });

      await update(h, { keyId, credits: { refill: { interval: "daily", amount: 7 } } });
      const daily = (await getKey(h, keyId)).credits;
      expect(daily?.refill).toEqual({ interval: "daily", amount: 7 });
      expect(typeof daily?.remaining).toBe("number");

      await update(h, { keyId, credits: { refill: null } });
      const noRefill = (await getKey(h, keyId)).credits;
      expect(noRefill).toEqual({ remaining: daily?.remaining });
      expect((await kvRecord(key))?.credits).toEqual({ remaining: daily?.remaining, lastRefillAt: expect.any(Number) });
    });

    it("credits {remaining: null} and credits:null make the key unlimited and clear the refill", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ credits: { remaining: 10, refill: { interval: "daily", amount: 10 } } });
      await h.verify(a.key);
      await update(h, { keyId: a.keyId, credits: { remaining: null } });
      expect(await getKey(h, a.keyId)).not.toHaveProperty("credits");
      expect((await kvRecord(a.key))?.credits).toBeUndefined();
      for (const v of await verifyHotAndCold(h, a.key)) {
        expect(v.code).toBe("VALID");
        expect(v).not.toHaveProperty("credits");
      }
      // Setting a balance again does not resurrect the old refill.
      await update(h, { keyId: a.keyId, credits: { remaining: 3 } });
      expect((await getKey(h, a.keyId)).credits).toEqual({ remaining: 3 });

      const b = await h.createKey({ credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 28 } } });
      await update(h, { keyId: b.keyId, credits: null });
      expect(await getKey(h, b.keyId)).not.toHaveProperty("credits");
      for (const v of await verifyHotAndCold(h, b.key)) {
        expect(v.code).toBe("VALID");
        expect(v).not.toHaveProperty("credits");
      }
    });

    it("credits on an unlimited key: a balance with a refill is accepted", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      await h.verify(key);
      await update(h, { keyId, credits: { remaining: 20, refill: { interval: "monthly", amount: 20, refillDay: 31 } } });
      expect((await getKey(h, keyId)).credits).toEqual({ remaining: 20, refill: { interval: "monthly", amount: 20, refillDay: 31 } });
      for (const v of await verifyHotAndCold(h, key)) {
        expect(v.code).toBe("VALID");
        expect(typeof v.credits).toBe("number");
      }
    });

    it("the SDK updates a key and reads the result back", async () => {
      const h = await Harness.init();
      const sdk = h.sdk();
      const created = await sdk.keys.createKey({
        apiId: h.apiId,
        prefix: "sdk",
        name: "before",
        meta: { a: 1 },
        externalId: "sdk_owner",
        credits: { remaining: 5, refill: { interval: "daily", amount: 5 } },
        ratelimits: [{ name: "requests", limit: 10, duration: 1000, autoApply: true }],
      });
      const { keyId, key } = created.data;
      const rlId = (await sdk.keys.getKey({ keyId })).data.ratelimits?.[0]?.id;

      const res = await sdk.keys.updateKey({
        keyId,
        name: "after",
        meta: null,
        externalId: "sdk_owner_2",
        credits: { remaining: 50 },
        ratelimits: [{ name: "requests", limit: 99, duration: 2000, autoApply: false }],
        enabled: false,
      });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({});

      const got = await sdk.keys.getKey({ keyId });
      expect(got.data).toMatchObject({
        keyId,
        name: "after",
        enabled: false,
        identity: { externalId: "sdk_owner_2" },
        credits: { remaining: 50, refill: { interval: "daily", amount: 5 } },
        ratelimits: [{ id: rlId, name: "requests", limit: 99, duration: 2000, autoApply: false }],
      });
      expect(got.data.meta).toBeUndefined();
      expect(got.data.updatedAt).toEqual(expect.any(Number));
      const who = await sdk.keys.whoami({ key });
      expect(who.data).toEqual(got.data);
      const v = await sdk.keys.verifyKey({ key });
      expect(v.data).toMatchObject({ valid: false, code: "DISABLED" });

      await sdk.keys.updateKey({ keyId, enabled: true, name: null });
      const again = await sdk.keys.getKey({ keyId });
      expect(again.data.enabled).toBe(true);
      expect(again.data.name).toBeUndefined();
      expect((await sdk.keys.verifyKey({ key })).data.code).toBe("VALID");
    });
  });

  describe("errors", () => {
    it("400 for a refill on an unlimited key, and leaves the key untouched", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ name: "unlimited" });
      const res = await h.post("/v2/keys.updateKey", { keyId, name: "changed", credits: { refill: { interval: "daily", amount: 5 } } });
      expect(res.status).toBe(400);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
      expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.credits.refill");
      const after = await getKey(h, keyId);
      expect(after.name).toBe("unlimited");
      expect(after).not.toHaveProperty("credits");
      expect(after).not.toHaveProperty("updatedAt");

      const res2 = await h.post("/v2/keys.updateKey", { keyId, credits: { remaining: null, refill: { interval: "daily", amount: 5 } } });
      expect(res2.status).toBe(400);
      expect(res2.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.credits.refill");
    });

    it("400 with the field's location for invalid values", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 1 } });
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ credits: { remaining: 1, refill: { interval: "monthly", amount: 5 } } }, "body.credits.refill.refillDay"],
        [{ credits: { refill: { interval: "daily", amount: 5, refillDay: 2 } } }, "body.credits.refill.refillDay"],
        [{ credits: { remaining: -1 } }, "body.credits.remaining"],
        [{ credits: { refill: { interval: "daily", amount: 0 } } }, "body.credits.refill.amount"],
        [{ ratelimits: [{ name: "dup", limit: 1, duration: 1000 }, { name: "dup", limit: 2, duration: 1000 }] }, "body.ratelimits[1].name"],
        [{ ratelimits: [{ name: "requests", limit: 1, duration: 999 }] }, "body.ratelimits[0].duration"],
        [{ expires: 4_102_444_800_001 }, "body.expires"],
        [{ meta: "nope" }, "body.meta"],
        [{ meta: [1] }, "body.meta"],
        [{ name: "" }, "body.name"],
        [{ externalId: "bad id" }, "body.externalId"],
        [{ enabled: null }, "body.enabled"],
        [{ permissions: ["a.b"] }, "body.permissions"],
        [{ roles: ["admin"] }, "body.roles"],
        [{ unknownField: 1 }, "body.unknownField"],
      ];
      for (const [patch, location] of cases) {
        const res = await h.post("/v2/keys.updateKey", { keyId, ...patch });
        expect(res.status, JSON.stringify(patch)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(patch)).toContain(location);
      }
      const missing = await h.post("/v2/keys.updateKey", { name: "x" });
      expect(missing.status).toBe(400);
      expect(missing.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.keyId");
      // Nothing was written by any refused request.
      expect(await getKey(h, keyId)).not.toHaveProperty("updatedAt");
    });

    it("404 key_not_found for a missing, deleted or other-workspace key", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/keys.updateKey", { keyId: "key_doesNotExist0000000", name: "x" });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");

      const { keyId, key } = await h.createKey();
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      const deleted = await h.post("/v2/keys.updateKey", { keyId, enabled: true });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      // And the refused update did not bring it back.
      expect(await h.verify(key)).toEqual({ valid: false, code: "NOT_FOUND" });

      const other = await Harness.init();
      const theirs = await other.createKey({ name: "theirs" });
      const foreign = await h.post("/v2/keys.updateKey", { keyId: theirs.keyId, name: "mine now" });
      expect(foreign.status).toBe(404);
      expect((await getKey(other, theirs.keyId)).name).toBe("theirs");
    });
  });

  describeSecurity({
    operation: "keys.updateKey",
    setup: async (h) => ({ body: { keyId: (await h.createKey()).keyId, name: "updated" }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.update_key`],
    missing: () => ({ keyId: "key_doesNotExist0000000" }),
  });
});
