import { describe, expect, it } from "vitest";
import type { KeysVerifyKeyResponse } from "../../../src/routes/v2/keys.verifyKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const NOT_FOUND = { valid: false, code: "NOT_FOUND" };
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("keys.verifyKey", () => {
  describe("happy", () => {
    it("VALID carries every field of the key", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 3_600_000;
      const { keyId, key } = await h.createKey({
        prefix: "sk",
        name: "billing",
        meta: { plan: "pro", seats: 3 },
        expires,
        externalId: "user_verify",
        credits: { remaining: 10 },
      });
      const res = await h.post<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      const data = res.body.data;
      expect(data).toMatchObject({
        valid: true,
        code: "VALID",
        keyId,
        name: "billing",
        meta: { plan: "pro", seats: 3 },
        expires,
        enabled: true,
        permissions: [],
        roles: [],
        identity: { id: expect.stringMatching(/^id_/), externalId: "user_verify" },
      });
      // `credits` is the remaining count as a plain number (whether this verify already spent one is the
      // credits feature's business, not this route's shape).
      expect(data.credits).toEqual(expect.any(Number));
      expect(data.credits).toBeGreaterThanOrEqual(9);
      expect(data.credits).toBeLessThanOrEqual(10);
      expect(JSON.stringify(res.body)).not.toContain(key);
    });

    it("a plain key carries no optional field and no null", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const data = await h.verify(key);
      expect(data).toEqual({ valid: true, code: "VALID", keyId, enabled: true, permissions: [], roles: [] });
    });

    it("accepts tags (up to 20)", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      for (const tags of [[], ["path=/v1/users"], Array.from({ length: 20 }, (_, i) => `tag-${i}`)]) {
        const res = await h.post("/v2/keys.verifyKey", { key, tags });
        expect(res.status, JSON.stringify(tags)).toBe(200);
        expect(res.body.data).toMatchObject({ valid: true, code: "VALID", keyId });
      }
    });

    it("the same answer through Unkey's SDK", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "sdk" });
      const res = await h.sdk().keys.verifyKey({ key });
      expect(res.data).toMatchObject({ valid: true, code: "VALID", keyId, name: "sdk" });
      const missing = await h.sdk().keys.verifyKey({ key: "sk_doesNotExist1234567890" });
      expect(missing.data).toMatchObject(NOT_FOUND);
    });
  });

  describe("refusals (HTTP 200)", () => {
    it("NOT_FOUND for an unknown key and for any random string, carrying only {valid, code}", async () => {
      const h = await Harness.init();
      for (const key of ["sk_doesNotExist1234567890", "x", "y".repeat(512), "ключ 🔑 with spaces", "\u0000"]) {
        const res = await h.post("/v2/keys.verifyKey", { key });
        expect(res.status, key.slice(0, 20)).toBe(200);
        expect(res.body.data, key.slice(0, 20)).toEqual(NOT_FOUND);
      }
    });

    it("DISABLED for a disabled key", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ enabled: false, name: "off" });
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "DISABLED", keyId, enabled: false, name: "off" });
    });

    it("DISABLED after updateKey enabled:false, VALID again after enabled:true", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      expect((await h.verify(key)).code).toBe("VALID");
      expect((await h.post("/v2/keys.updateKey", { keyId, enabled: false })).status).toBe(200);
      expect((await h.verify(key)).code).toBe("DISABLED");
      expect((await h.post("/v2/keys.updateKey", { keyId, enabled: true })).status).toBe(200);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("EXPIRED once the expiry passes", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 1500;
      const { keyId, key } = await h.createKey({ expires });
      const first = await h.verify(key);
      // Only meaningful if the machine was fast enough to verify before the deadline.
      if (Date.now() < expires) expect(first.code).toBe("VALID");
      while (Date.now() <= expires) await sleep(expires - Date.now() + 10);
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "EXPIRED", keyId, expires });
    });

    it("EXPIRED after updateKey moves expires into the past", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      expect((await h.verify(key)).code).toBe("VALID");
      const past = Date.now() - 60_000;
      expect((await h.post("/v2/keys.updateKey", { keyId, expires: past })).status).toBe(200);
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "EXPIRED", keyId, expires: past });
      // Clearing the expiry makes it valid again.
      expect((await h.post("/v2/keys.updateKey", { keyId, expires: null })).status).toBe(200);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("a key that is both disabled and expired is DISABLED (Unkey's order)", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ enabled: false, expires: Date.now() - 60_000 });
      expect((await h.verify(key)).code).toBe("DISABLED");
    });

    it("a deleted key is NOT_FOUND", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "gone" });
      expect((await h.verify(key)).code).toBe("VALID");
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      expect(await h.verify(key)).toEqual(NOT_FOUND);
    });

    it("a key of another workspace is NOT_FOUND, with nothing about it", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      const { key } = await theirs.createKey({ name: "secret-name", meta: { a: 1 } });
      expect(await mine.verify(key)).toEqual(NOT_FOUND);
      expect((await theirs.verify(key)).code).toBe("VALID");
    });

    it("a root key allowed to verify only another API gets NOT_FOUND, even for a disabled key", async () => {
      const h = await Harness.init();
      const otherApiId = await h.createApi();
      const rootKey = await h.createRootKey([`api.${otherApiId}.verify_key`]);
      const live = await h.createKey({ name: "live" });
      const disabled = await h.createKey({ enabled: false });
      expect(await h.verify(live.key, rootKey)).toEqual(NOT_FOUND);
      expect(await h.verify(disabled.key, rootKey)).toEqual(NOT_FOUND);
      // The same root key may verify keys of the API it holds the permission for.
      const res = await h.post("/v2/keys.createKey", { apiId: otherApiId });
      expect(res.status).toBe(200);
      expect((await h.verify(res.body.data.key, rootKey)).code).toBe("VALID");
    });

    it("verifying a root key (this one, or another of the workspace) is NOT_FOUND", async () => {
      const h = await Harness.init();
      expect(await h.verify(h.rootKey)).toEqual(NOT_FOUND);
      const other = await h.createRootKey(["api.*.verify_key"]);
      expect(await h.verify(other)).toEqual(NOT_FOUND);
      expect(await h.verify(h.rootKey, other)).toEqual(NOT_FOUND);
    });
  });

  describe("errors", () => {
    it("400 for an empty key, a key over 512 characters, a non-string key, or no key", async () => {
      const h = await Harness.init();
      for (const body of [{ key: "" }, { key: "x".repeat(513) }, { key: 123 }, {}]) {
        const res = await h.post("/v2/keys.verifyKey", body);
        expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors).toEqual(expect.arrayContaining([expect.objectContaining({ location: "body.key" })]));
      }
    });

    it("400 for an unknown field and for out-of-range values", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      for (const body of [
        { key, extra: true },
        { key, permissions: "" },
        { key, credits: { cost: -1 } },
        { key, ratelimits: [{ name: "requests", duration: 0 }] },
      ]) {
        const res = await h.post("/v2/keys.verifyKey", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });

    it("400 for 21 tags, an empty tag, or tags that are not strings", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      for (const tags of [Array.from({ length: 21 }, (_, i) => `tag-${i}`), [""], [1, 2], "a,b"]) {
        const res = await h.post("/v2/keys.verifyKey", { key, tags });
        expect(res.status, JSON.stringify(tags)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors.map((e: { location: string }) => e.location).join(" ")).toContain("body.tags");
      }
    });

    it("400 for a body that is not JSON", async () => {
      const h = await Harness.init();
      const res = await h.post("/v2/keys.verifyKey", "{not json");
      expect(res.status).toBe(400);
      expect(res.body.error.errors.length).toBeGreaterThan(0);
    });
  });

  describeSecurity({
    operation: "keys.verifyKey",
    setup: async (h) => ({ body: { key: (await h.createKey()).key }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.verify_key`],
    missing: () => ({ key: "sk_doesNotExist1234567890" }),
    denied: "verify-not-found",
  });
});
