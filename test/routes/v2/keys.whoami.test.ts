import { describe, expect, it } from "vitest";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysWhoamiResponse } from "../../../src/routes/v2/keys.whoami";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const KEY_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/key_not_found";

describe("keys.whoami", () => {
  describe("happy", () => {
    it("returns the same KeyResponseData as getKey, with every stored field", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 3_600_000;
      const { keyId, key } = await h.createKey({
        prefix: "sk",
        name: "billing",
        meta: { plan: "pro", tier: 2 },
        expires,
        externalId: "whoami_user",
        credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 5 } },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      const res = await h.post<KeysWhoamiResponse>("/v2/keys.whoami", { key });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      const got = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
      expect(got.status).toBe(200);
      expect(res.body.data).toEqual(got.body.data);
      expect(res.body.data).toMatchObject({
        keyId,
        start: key.slice(0, 7),
        enabled: true,
        name: "billing",
        meta: { plan: "pro", tier: 2 },
        expires,
        credits: { remaining: 10, refill: { interval: "monthly", amount: 10, refillDay: 5 } },
        identity: { id: expect.stringMatching(/^id_/), externalId: "whoami_user" },
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 5, duration: 60_000, autoApply: true }],
        permissions: [],
        roles: [],
      });
      // The plaintext is never echoed back.
      expect(JSON.stringify(res.body)).not.toContain(key);
    });

    it("a minimal key: optional fields omitted, never null", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const res = await h.post<KeysWhoamiResponse>("/v2/keys.whoami", { key });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.data).sort()).toEqual(["createdAt", "enabled", "keyId", "permissions", "roles", "start"]);
      expect(res.body.data.keyId).toBe(keyId);
      expect(JSON.stringify(res.body)).not.toContain("null");
    });

    it("finds a disabled or expired key too (whoami is not verify)", async () => {
      const h = await Harness.init();
      const disabled = await h.createKey({ enabled: false });
      const res = await h.post("/v2/keys.whoami", { key: disabled.key });
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({ keyId: disabled.keyId, enabled: false });

      const expires = Date.now() - 1000;
      const expired = await h.createKey({ expires });
      const res2 = await h.post("/v2/keys.whoami", { key: expired.key });
      expect(res2.status).toBe(200);
      expect(res2.body.data).toMatchObject({ keyId: expired.keyId, expires });
    });

    it("reflects an update at once", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "before" });
      await h.post("/v2/keys.whoami", { key });
      const upd = await h.post("/v2/keys.updateKey", { keyId, name: "after", meta: { v: 2 } });
      expect(upd.status).toBe(200);
      const res = await h.post("/v2/keys.whoami", { key });
      expect(res.body.data).toMatchObject({ keyId, name: "after", meta: { v: 2 }, updatedAt: expect.any(Number) });
      recordCache(5000).clear();
      const cold = await h.post("/v2/keys.whoami", { key });
      expect(cold.body.data).toEqual(res.body.data);
    });

    it("the SDK's whoami returns what its getKey returns", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        prefix: "sdk",
        name: "via-sdk",
        meta: { a: 1 },
        externalId: "sdk_whoami",
        credits: { remaining: 3 },
        ratelimits: [{ name: "requests", limit: 10, duration: 1000, autoApply: false }],
      });
      const sdk = h.sdk();
      const who = await sdk.keys.whoami({ key });
      expect(who.meta.requestId).toMatch(/^req_/);
      expect(who.data).toMatchObject({
        keyId,
        start: key.slice(0, 8),
        enabled: true,
        name: "via-sdk",
        meta: { a: 1 },
        credits: { remaining: 3 },
        identity: { externalId: "sdk_whoami" },
        ratelimits: [{ name: "requests", limit: 10, duration: 1000, autoApply: false }],
      });
      const got = await sdk.keys.getKey({ keyId });
      expect(who.data).toEqual(got.data);
    });
  });

  describe("errors", () => {
    it("404 key_not_found for an unknown key", async () => {
      const h = await Harness.init();
      const res = await h.post("/v2/keys.whoami", { key: "sk_thisKeyDoesNotExist123" });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe(KEY_NOT_FOUND);
      expect(res.body.meta.requestId).toMatch(/^req_/);
    });

    it("404 for a deleted key, and for a key whose API was deleted", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      expect((await h.post("/v2/keys.whoami", { key })).status).toBe(200);
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      const res = await h.post("/v2/keys.whoami", { key });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe(KEY_NOT_FOUND);

      const apiId = await h.createApi("short-lived");
      const other = await h.post("/v2/keys.createKey", { apiId });
      expect(other.status).toBe(200);
      expect((await h.post("/v2/apis.deleteApi", { apiId })).status).toBe(200);
      const gone = await h.post("/v2/keys.whoami", { key: other.body.data.key });
      expect(gone.status).toBe(404);
      expect(gone.body.error.type).toBe(KEY_NOT_FOUND);
    });

    it("404 for another workspace's key, identical to a missing one", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      const { key } = await theirs.createKey({ name: "secret-name" });
      const foreign = await mine.post("/v2/keys.whoami", { key });
      const absent = await mine.post("/v2/keys.whoami", { key: "sk_thisKeyDoesNotExist123" });
      expect(foreign.status).toBe(404);
      expect(foreign.body.error.type).toBe(KEY_NOT_FOUND);
      expect(foreign.body.error.title).toBe(absent.body.error.title);
      expect(JSON.stringify(foreign.body)).not.toContain("secret-name");
      expect((await theirs.post("/v2/keys.whoami", { key })).status).toBe(200);
    });

    it("a root key is not a customer key: whoami on a root key's plaintext is 404", async () => {
      const h = await Harness.init();
      const res = await h.post("/v2/keys.whoami", { key: h.rootKey });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe(KEY_NOT_FOUND);
    });

    it("400 for a missing, empty, too long or non-string key, or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{}, { key: "" }, { key: "x".repeat(513) }, { key: 123 }, { key: "sk_abc", keyId: "key_abc" }]) {
        const res = await h.post("/v2/keys.whoami", body);
        expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
      const unknown = await h.post("/v2/keys.whoami", { key: "sk_abc", keyId: "key_abc" });
      expect(unknown.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.keyId");
      const empty = await h.post("/v2/keys.whoami", { key: "" });
      expect(empty.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.key");
    });
  });

  describeSecurity({
    operation: "keys.whoami",
    setup: async (h) => ({ body: { key: (await h.createKey()).key }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.read_key`],
    missing: () => ({ key: "sk_thisKeyDoesNotExist123" }),
    denied: "404",
  });
});
