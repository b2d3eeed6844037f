import { env } from "cloudflare:workers";
import { NotFoundErrorResponse } from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { ApisDeleteApiResponse } from "../../../src/routes/v2/apis.deleteApi";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/apis.deleteApi";
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";
const API_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/api_not_found";
const KEY_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/key_not_found";

/** Fails with the JSON path of the first `null` found anywhere in `value`. */
function expectNoNulls(value: unknown, path = "$"): void {
  expect(value, `null at ${path}`).not.toBeNull();
  if (Array.isArray(value)) value.forEach((v, i) => expectNoNulls(v, `${path}[${i}]`));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) expectNoNulls(v, `${path}.${k}`);
}

async function kvEntry(key: string): Promise<Record<string, unknown> | null> {
  return env.EDGE.get(`key:hash:${await hashKey(key)}`, "json");
}

describe("apis.deleteApi", () => {
  describe("happy", () => {
    it("returns empty data, and the API is gone for getApi, listKeys, createKey and a second delete", async () => {
      const h = await Harness.init();
      const res = await h.post<ApisDeleteApiResponse>(PATH, { apiId: h.apiId });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.data).toEqual({});
      expectNoNulls(res.body);

      const got = await h.post("/v2/apis.getApi", { apiId: h.apiId });
      expect(got.status).toBe(404);
      expect(got.body.error.type).toBe(API_NOT_FOUND);

      const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId });
      expect(listed.status).toBe(404);
      expect(listed.body.error.type).toBe(API_NOT_FOUND);

      const created = await h.post("/v2/keys.createKey", { apiId: h.apiId });
      expect(created.status).toBe(404);
      expect(created.body.error.type).toBe(API_NOT_FOUND);

      const again = await h.post(PATH, { apiId: h.apiId });
      expect(again.status).toBe(404);
      expect(again.headers.get("content-type")).toMatch(/^application\/json/);
      expect(again.body.error.type).toBe(API_NOT_FOUND);
    });

    it("revokes every key at once, also on a cold isolate (KV tombstone) and with KV gone (D1)", async () => {
      const h = await Harness.init();
      const plain = await h.createKey({ name: "plain" });
      const metered = await h.createKey({
        name: "metered",
        externalId: "user_del",
        credits: { remaining: 100 },
        ratelimits: [{ name: "requests", limit: 100, duration: 60_000, autoApply: true }],
      });
      const keys = [plain, metered];
      // Warm this isolate's cache, so a stale cached VALID would show.
      for (const k of keys) expect((await h.verify(k.key)).code).toBe("VALID");

      expect((await h.post(PATH, { apiId: h.apiId })).status).toBe(200);

      for (const k of keys) expect(await h.verify(k.key)).toEqual({ valid: false, code: "NOT_FOUND" });

      recordCache(5000).clear();
      for (const k of keys) {
        expect(await kvEntry(k.key)).toMatchObject({ v: 1, tombstone: true });
        expect(await h.verify(k.key)).toEqual({ valid: false, code: "NOT_FOUND" });
      }

      for (const k of keys) await env.EDGE.delete(`key:hash:${await hashKey(k.key)}`);
      recordCache(5000).clear();
      for (const k of keys) expect(await h.verify(k.key)).toEqual({ valid: false, code: "NOT_FOUND" });

      for (const k of keys) {
        const got = await h.post("/v2/keys.getKey", { keyId: k.keyId });
        expect(got.status).toBe(404);
        expect(got.body.error.type).toBe(KEY_NOT_FOUND);
      }
    });

    it("tombstones every key of an API with more keys than one KV write wave", async () => {
      const h = await Harness.init();
      const keys: string[] = [];
      for (let i = 0; i < 30; i++) keys.push((await h.createKey({ name: `bulk-${i}` })).key);
      expect((await h.verify(keys[29]!)).valid).toBe(true);

      expect((await h.post(PATH, { apiId: h.apiId })).status).toBe(200);

      recordCache(5000).clear();
      for (const key of keys) {
        expect(await kvEntry(key), key).toMatchObject({ v: 1, tombstone: true });
        expect(await h.verify(key)).toEqual({ valid: false, code: "NOT_FOUND" });
      }
    });

    it("leaves the workspace's other APIs, their keys and the root key alone", async () => {
      const h = await Harness.init();
      const doomed = await h.createKey();
      const survivorApi = await h.createApi("survivor");
      const survivor = await h.post("/v2/keys.createKey", { apiId: survivorApi, name: "survivor-key" });
      expect(survivor.status).toBe(200);

      expect((await h.post(PATH, { apiId: h.apiId })).status).toBe(200);

      expect((await h.verify(doomed.key)).code).toBe("NOT_FOUND");
      recordCache(5000).clear();
      expect(await h.verify(survivor.body.data.key)).toMatchObject({ valid: true, code: "VALID", keyId: survivor.body.data.keyId });
      expect((await h.post("/v2/apis.getApi", { apiId: survivorApi })).body.data).toEqual({ id: survivorApi, name: "survivor" });
      const listed = await h.post("/v2/apis.listKeys", { apiId: survivorApi });
      expect(listed.status).toBe(200);
      expect(listed.body.data.map((k: { keyId: string }) => k.keyId)).toEqual([survivor.body.data.keyId]);
    });

    it("deletes an API that has no keys", async () => {
      const h = await Harness.init();
      const apiId = await h.createApi("empty-api");
      const res = await h.post(PATH, { apiId });
      expect(res.status).toBe(200);
      expect((await h.post("/v2/apis.getApi", { apiId })).status).toBe(404);
    });

    it("works through the official SDK", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const res = await h.sdk().apis.deleteApi({ apiId: h.apiId });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({});
      expect((await h.verify(key)).code).toBe("NOT_FOUND");
      const again = await h.sdk().apis.deleteApi({ apiId: h.apiId }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(NotFoundErrorResponse);
      expect((again as NotFoundErrorResponse).error.type).toBe(API_NOT_FOUND);
    });
  });

  describe("errors", () => {
    it("404 api_not_found for an unknown API and for another kind of id", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      for (const apiId of ["api_doesNotExist0000000", "abc", keyId]) {
        const res = await h.post(PATH, { apiId });
        expect(res.status, apiId).toBe(404);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error).toMatchObject({ status: 404, title: "Not Found", type: API_NOT_FOUND });
      }
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).status).toBe(200);
    });

    it("400 with errors[] at body.apiId for a missing, short, mistyped or ill-formed id", async () => {
      const h = await Harness.init();
      for (const body of [{}, { apiId: "" }, { apiId: "ab" }, { apiId: "a".repeat(256) }, { apiId: "api has spaces" }, { apiId: "api-dash" }, { apiId: 123 }, { apiId: null }, { apiId: [h.apiId] }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error).toMatchObject({ status: 400, title: "Bad Request", type: INVALID_INPUT });
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain("body.apiId");
      }
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).status).toBe(200);
    });

    it("400 for an unknown field, without deleting anything", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const res = await h.post(PATH, { apiId: h.apiId, force: true });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.errors).toEqual([expect.objectContaining({ location: "body.force" })]);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).status).toBe(200);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("403 without delete_api leaves the API and its keys intact", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const rootKey = await h.createRootKey(["api.*.read_api", "api.*.delete_key", "api.*.update_api"]);
      const res = await h.post(PATH, { apiId: h.apiId }, { key: rootKey });
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).status).toBe(200);
      recordCache(5000).clear();
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("another workspace cannot delete this workspace's API", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      const { key } = await theirs.createKey();
      const res = await mine.post(PATH, { apiId: theirs.apiId });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe(API_NOT_FOUND);
      expect((await theirs.post("/v2/apis.getApi", { apiId: theirs.apiId })).status).toBe(200);
      expect((await theirs.verify(key)).code).toBe("VALID");
    });
  });

  describeSecurity({
    operation: "apis.deleteApi",
    setup: async (h) => {
      const apiId = await h.createApi("to-be-deleted");
      return { body: { apiId }, apiId };
    },
    grant: (apiId = "*") => [`api.${apiId}.delete_api`],
    missing: () => ({ apiId: "api_doesNotExist0000000" }),
  });
});
