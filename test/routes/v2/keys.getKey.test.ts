import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

describe("keys.getKey", () => {
  describe("happy", () => {
    it("returns the key with every stored field and nothing secret", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 3_600_000;
      const { keyId, key } = await h.createKey({
        prefix: "sk",
        name: "billing",
        meta: { plan: "pro" },
        expires,
        externalId: "user_42",
        credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 31 } },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const data = res.body.data;
      expect(data).toMatchObject({
        keyId,
        start: key.slice(0, 7),
        enabled: true,
        name: "billing",
        meta: { plan: "pro" },
        expires,
        credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 31 } },
        identity: { externalId: "user_42" },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
        permissions: [],
        roles: [],
      });
      expect(data.ratelimits?.[0]?.id).toMatch(/^rl_/);
      expect(data.identity?.id).toMatch(/^id_/);
      expect(JSON.stringify(res.body)).not.toContain(key);
    });

    it("omits absent fields instead of sending null", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const res = await h.post("/v2/keys.getKey", { keyId });
      expect(Object.keys(res.body.data).sort()).toEqual(["createdAt", "enabled", "keyId", "permissions", "roles", "start"]);
      expect(JSON.stringify(res.body)).not.toContain("null");
    });
  });

  describe("errors", () => {
    it("404 for a missing or deleted key", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/keys.getKey", { keyId: "key_doesNotExist0000000" });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/key_not_found");
      const { keyId } = await h.createKey();
      await h.post("/v2/keys.deleteKey", { keyId });
      expect((await h.post("/v2/keys.getKey", { keyId })).status).toBe(404);
    });

    it("400 for a bad keyId, an unknown field, or decrypt on an API without the vault", async () => {
      const h = await Harness.init();
      for (const body of [{}, { keyId: "no spaces allowed" }, { keyId: "ab" }, { keyId: 12345 }, { keyId: "key_x", extra: true }]) {
        const res = await h.post("/v2/keys.getKey", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
      const { keyId } = await h.createKey();
      const decrypt = await h.post("/v2/keys.getKey", { keyId, decrypt: true });
      expect(decrypt.status).toBe(412);
    });
  });

  describeSecurity({
    operation: "keys.getKey",
    setup: async (h) => ({ body: { keyId: (await h.createKey()).keyId }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.read_key`],
    missing: () => ({ keyId: "key_doesNotExist0000000" }),
  });
});
