import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysRerollKeyResponse } from "../../../src/routes/v2/keys.rerollKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

type KeyData = KeysGetKeyResponse["data"];

async function getKey(h: Harness, keyId: string): Promise<KeyData> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  if (res.status !== 200) throw new Error(`getKey failed: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function reroll(h: Harness, keyId: string, expiration: number): Promise<{ keyId: string; key: string }> {
  const res = await h.post<KeysRerollKeyResponse>("/v2/keys.rerollKey", { keyId, expiration });
  if (res.status !== 200) throw new Error(`rerollKey failed: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/** What a reroll must carry over: everything but identity of the row itself (and limit ids, which are new rows). */
function settings(data: KeyData): Record<string, unknown> {
  const { keyId: _k, start: _s, createdAt: _c, updatedAt: _u, ratelimits, ...rest } = data;
  return { ...rest, ratelimits: ratelimits?.map(({ id: _id, ...rl }) => rl) };
}

describe("keys.rerollKey", () => {
  describe("happy", () => {
    it("the new key copies name, meta, identity, credits, ratelimits, expires and prefix", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 86_400_000;
      const old = await h.createKey({
        prefix: "sk",
        name: "billing",
        meta: { plan: "pro", nested: { a: [1, 2] } },
        expires,
        externalId: "user_reroll",
        credits: { remaining: 42, refill: { interval: "monthly", amount: 50, refillDay: 15 } },
        ratelimits: [
          { name: "requests", limit: 5, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 1000, duration: 3_600_000, autoApply: false },
        ],
      });
      const before = await getKey(h, old.keyId);

      const res = await h.post<KeysRerollKeyResponse>("/v2/keys.rerollKey", { keyId: old.keyId, expiration: 86_400_000 });
      expect(res.status).toBe(200);
      const fresh = res.body.data;
      expect(fresh.keyId).toMatch(/^key_/);
      expect(fresh.keyId).not.toBe(old.keyId);
      expect(fresh.key).not.toBe(old.key);
      expect(fresh.key.startsWith("sk_")).toBe(true);

      const after = await getKey(h, fresh.keyId);
      expect(settings(after)).toEqual(settings(before));
      expect(after).toMatchObject({
        name: "billing",
        meta: { plan: "pro", nested: { a: [1, 2] } },
        expires,
        enabled: true,
        credits: { remaining: 42, refill: { interval: "monthly", amount: 50, refillDay: 15 } },
        identity: { id: before.identity?.id, externalId: "user_reroll" },
      });
      expect(after.start).toBe(fresh.key.slice(0, after.start.length));
      expect(after.start.startsWith("sk_")).toBe(true);
      // The limits are new rows of the new key, not the old key's rows.
      const oldIds = new Set(before.ratelimits?.map((r) => r.id));
      for (const rl of after.ratelimits ?? []) expect(oldIds.has(rl.id)).toBe(false);

      const v = await h.verify(fresh.key);
      expect(v).toMatchObject({ valid: true, code: "VALID", keyId: fresh.keyId, name: "billing", identity: { externalId: "user_reroll" } });
    });

    it("a plain key rerolls into a plain key (no absent field appears)", async () => {
      const h = await Harness.init();
      const old = await h.createKey();
      const before = await getKey(h, old.keyId);
      const fresh = await reroll(h, old.keyId, 60_000);
      const after = await getKey(h, fresh.keyId);
      expect(settings(after)).toEqual(settings(before));
      expect(Object.keys(after).sort()).toEqual(["createdAt", "enabled", "keyId", "permissions", "roles", "start"]);
    });

    it("a disabled key rerolls into a disabled key", async () => {
      const h = await Harness.init();
      const old = await h.createKey({ enabled: false });
      const fresh = await reroll(h, old.keyId, 60_000);
      expect((await getKey(h, fresh.keyId)).enabled).toBe(false);
      expect((await h.verify(fresh.key)).code).toBe("DISABLED");
    });

    it("expiration 0: the old key is EXPIRED at the very next verify, the new key VALID", async () => {
      const h = await Harness.init();
      const old = await h.createKey({ name: "rotate-now" });
      expect((await h.verify(old.key)).code).toBe("VALID"); // warm every cache layer first
      const before = Date.now();
      const fresh = await reroll(h, old.keyId, 0);
      const after = Date.now();

      const oldVerify = await h.verify(old.key);
      expect(oldVerify).toMatchObject({ valid: false, code: "EXPIRED", keyId: old.keyId });
      expect(oldVerify.expires).toBeGreaterThanOrEqual(before);
      expect(oldVerify.expires).toBeLessThanOrEqual(after);
      expect(await h.verify(fresh.key)).toMatchObject({ valid: true, code: "VALID", keyId: fresh.keyId, name: "rotate-now" });

      // The old key is expired, not deleted: it is still readable.
      const oldData = await getKey(h, old.keyId);
      expect(oldData.expires).toBe(oldVerify.expires);
      expect(oldData.updatedAt).toEqual(expect.any(Number));
    });

    it("expiration 90000: the old key expires at a whole minute at least 90 s from now and still verifies now", async () => {
      const h = await Harness.init();
      const old = await h.createKey();
      const before = Date.now();
      const fresh = await reroll(h, old.keyId, 90_000);
      const after = Date.now();

      const { expires } = await getKey(h, old.keyId);
      expect(expires).toEqual(expect.any(Number));
      expect(expires! % 60_000).toBe(0);
      expect(expires!).toBeGreaterThanOrEqual(before + 90_000);
      expect(expires!).toBeLessThan(after + 90_000 + 60_000);

      expect(await h.verify(old.key)).toMatchObject({ valid: true, code: "VALID", keyId: old.keyId, expires });
      const v = await h.verify(fresh.key);
      expect(v).toMatchObject({ valid: true, code: "VALID", keyId: fresh.keyId });
      // The new key does not inherit the old key's rotation deadline.
      expect(v.expires).toBeUndefined();
    });

    it("an old key that expires earlier keeps its earlier expiry", async () => {
      const h = await Harness.init();
      const soon = Math.floor(Date.now() / 1000) * 1000 + 120_000 + 17; // deliberately not a whole minute
      const old = await h.createKey({ expires: soon });
      await reroll(h, old.keyId, 86_400_000);
      expect((await getKey(h, old.keyId)).expires).toBe(soon);
    });

    it("an old key that already expired keeps its past expiry, even with expiration 0", async () => {
      const h = await Harness.init();
      const past = Date.now() - 3_600_000;
      const old = await h.createKey({ expires: past });
      expect((await h.verify(old.key)).code).toBe("EXPIRED");
      for (const expiration of [0, 86_400_000]) {
        await reroll(h, old.keyId, expiration);
        expect((await getKey(h, old.keyId)).expires, `expiration=${expiration}`).toBe(past);
        expect((await h.verify(old.key)).code).toBe("EXPIRED");
      }
    });

    it("keeps a multi-underscore prefix whole", async () => {
      const h = await Harness.init();
      const old = await h.createKey({ prefix: "sk_live" });
      expect(old.key.startsWith("sk_live_")).toBe(true);
      const fresh = await reroll(h, old.keyId, 0);
      expect(fresh.key.startsWith("sk_live_")).toBe(true);
      expect(fresh.key.split("_")).toHaveLength(3);
      expect((await getKey(h, fresh.keyId)).start.startsWith("sk_live_")).toBe(true);
      expect((await h.verify(fresh.key)).code).toBe("VALID");
    });

    it("a key without a prefix rerolls into a key without a prefix", async () => {
      const h = await Harness.init();
      const old = await h.createKey();
      expect(old.key).not.toContain("_");
      const fresh = await reroll(h, old.keyId, 0);
      expect(fresh.key).not.toContain("_");
      expect((await h.verify(fresh.key)).code).toBe("VALID");
    });

    it("the new key can itself be rerolled", async () => {
      const h = await Harness.init();
      const first = await h.createKey({ name: "chain" });
      const second = await reroll(h, first.keyId, 0);
      const third = await reroll(h, second.keyId, 0);
      expect((await h.verify(second.key)).code).toBe("EXPIRED");
      expect(await h.verify(third.key)).toMatchObject({ valid: true, name: "chain" });
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const old = await h.createKey({ prefix: "sdk" });
      const res = await h.sdk().keys.rerollKey({ keyId: old.keyId, expiration: 0 });
      expect(res.data.key.startsWith("sdk_")).toBe(true);
      expect((await h.verify(res.data.key)).code).toBe("VALID");
    });
  });

  describe("errors", () => {
    it("400 for expiration -1, above the maximum, a fraction, or missing", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      for (const body of [
        { keyId, expiration: -1 },
        { keyId, expiration: 4_102_444_800_001 },
        { keyId, expiration: 1.5 },
        { keyId, expiration: "60000" },
        { keyId },
      ]) {
        const res = await h.post("/v2/keys.rerollKey", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors).toEqual(expect.arrayContaining([expect.objectContaining({ location: "body.expiration" })]));
      }
      // The maximum itself is accepted.
      expect((await h.post("/v2/keys.rerollKey", { keyId, expiration: 4_102_444_800_000 })).status).toBe(200);
    });

    it("400 for a bad keyId or an unknown field", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      for (const body of [{ expiration: 0 }, { keyId: "ab", expiration: 0 }, { keyId, expiration: 0, name: "x" }]) {
        const res = await h.post("/v2/keys.rerollKey", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });

    it("404 for an unknown or deleted key", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/keys.rerollKey", { keyId: "key_doesNotExist0000000", expiration: 0 });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      const deleted = await h.post("/v2/keys.rerollKey", { keyId, expiration: 0 });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
    });
  });

  describeSecurity({
    operation: "keys.rerollKey",
    setup: async (h) => ({ body: { keyId: (await h.createKey()).keyId, expiration: 60_000 }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.create_key`],
    missing: () => ({ keyId: "key_doesNotExist0000000", expiration: 60_000 }),
  });
});
