import { env } from "cloudflare:workers";
import { APIError, BadRequestErrorResponse, ForbiddenErrorResponse } from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { ApisListKeysResponse } from "../../../src/routes/v2/apis.listKeys";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/apis.listKeys";
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";
const API_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/api_not_found";
const INSUFFICIENT = "https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions";

/** Fails with the JSON path of the first `null` found anywhere in `value`. */
function expectNoNulls(value: unknown, path = "$"): void {
  expect(value, `null at ${path}`).not.toBeNull();
  if (Array.isArray(value)) value.forEach((v, i) => expectNoNulls(v, `${path}[${i}]`));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) expectNoNulls(v, `${path}.${k}`);
}

async function kvName(key: string): Promise<string> {
  return `key:hash:${await hashKey(key)}`;
}

async function createKeys(h: Harness, n: number, body: Record<string, unknown> = {}): Promise<{ keyId: string; key: string }[]> {
  const out: { keyId: string; key: string }[] = [];
  for (let i = 0; i < n; i++) out.push(await h.createKey({ name: `key-${i}`, ...body }));
  return out;
}

function ids(res: { body: ApisListKeysResponse }): string[] {
  return res.body.data.map((k) => k.keyId);
}

describe("apis.listKeys", () => {
  describe("happy", () => {
    it("lists every key of the API, oldest first, each exactly as getKey shows it", async () => {
      const h = await Harness.init();
      const plain = await h.createKey();
      const full = await h.createKey({
        prefix: "sk",
        name: "full",
        meta: { plan: "pro" },
        expires: Date.now() + 3_600_000,
        externalId: "user_full",
        credits: { remaining: 10, refill: { interval: "daily", amount: 5 } },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      const res = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(ids(res)).toEqual([plain.keyId, full.keyId]);
      expect(res.body.pagination).toEqual({ hasMore: false });
      expectNoNulls(res.body);
      for (const item of res.body.data) {
        const got = await h.post("/v2/keys.getKey", { keyId: item.keyId });
        expect(item).toEqual(got.body.data);
      }
      expect(Object.keys(res.body.data[0]!).sort()).toEqual(["createdAt", "enabled", "keyId", "permissions", "roles", "start"]);
      expect(res.body.data[1]).toMatchObject({
        name: "full",
        meta: { plan: "pro" },
        credits: { remaining: 10, refill: { interval: "daily", amount: 5 } },
        identity: { externalId: "user_full" },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(plain.key);
      expect(text).not.toContain(full.key);
    });

    it("walks pages with limit and cursor: every key exactly once, in creation order", async () => {
      const h = await Harness.init();
      const created = (await createKeys(h, 7)).map((k) => k.keyId);
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 3, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        expectNoNulls(res.body);
        seen.push(...ids(res));
        pageSizes.push(res.body.data.length);
        if (!res.body.pagination.hasMore) {
          expect(res.body.pagination).toEqual({ hasMore: false });
          expect("cursor" in res.body.pagination).toBe(false);
          break;
        }
        expect(res.body.pagination.cursor).toEqual(expect.any(String));
        expect(res.body.pagination.cursor!.length).toBeGreaterThan(0);
        cursor = res.body.pagination.cursor;
      }
      expect(pageSizes).toEqual([3, 3, 1]);
      expect(seen).toEqual(created);
    });

    it("says hasMore false without a cursor when the last page is exactly full", async () => {
      const h = await Harness.init();
      const created = (await createKeys(h, 4)).map((k) => k.keyId);
      const first = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 2 });
      expect(ids(first)).toEqual(created.slice(0, 2));
      expect(first.body.pagination.hasMore).toBe(true);
      const second = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 2, cursor: first.body.pagination.cursor });
      expect(ids(second)).toEqual(created.slice(2));
      expect(second.body.pagination).toEqual({ hasMore: false });

      const all = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 4 });
      expect(ids(all)).toEqual(created);
      expect(all.body.pagination).toEqual({ hasMore: false });

      const one = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 1 });
      expect(ids(one)).toEqual(created.slice(0, 1));
      expect(one.body.pagination.hasMore).toBe(true);
    });

    it("returns an empty page for an API without keys", async () => {
      const h = await Harness.init();
      const res = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
      expect(res.body.pagination).toEqual({ hasMore: false });
    });

    it("lists only this API's keys", async () => {
      const h = await Harness.init();
      const mine = await h.createKey();
      const otherApi = await h.createApi("other");
      const other = await h.post("/v2/keys.createKey", { apiId: otherApi });
      expect(other.status).toBe(200);
      expect(ids(await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId }))).toEqual([mine.keyId]);
      expect(ids(await h.post<ApisListKeysResponse>(PATH, { apiId: otherApi }))).toEqual([other.body.data.keyId]);
    });

    it("filters by externalId, also across pages and only within this API", async () => {
      const h = await Harness.init();
      const a1 = await h.createKey({ externalId: "user_a" });
      await h.createKey({ externalId: "user_b" });
      await h.createKey();
      const a2 = await h.createKey({ externalId: "user_a" });
      const otherApi = await h.createApi("other");
      expect((await h.post("/v2/keys.createKey", { apiId: otherApi, externalId: "user_a" })).status).toBe(200);

      const all = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, externalId: "user_a" });
      expect(all.status).toBe(200);
      expect(ids(all)).toEqual([a1.keyId, a2.keyId]);
      for (const k of all.body.data) expect(k.identity?.externalId).toBe("user_a");
      expect(all.body.pagination).toEqual({ hasMore: false });

      const first = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, externalId: "user_a", limit: 1 });
      expect(ids(first)).toEqual([a1.keyId]);
      expect(first.body.pagination.hasMore).toBe(true);
      const second = await h.post<ApisListKeysResponse>(PATH, {
        apiId: h.apiId,
        externalId: "user_a",
        limit: 1,
        cursor: first.body.pagination.cursor,
      });
      expect(ids(second)).toEqual([a2.keyId]);
      expect(second.body.pagination).toEqual({ hasMore: false });

      const unknown = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, externalId: "user_nobody" });
      expect(unknown.status).toBe(200);
      expect(unknown.body.data).toEqual([]);
      expect(unknown.body.pagination).toEqual({ hasMore: false });
    });

    it("an externalId of another workspace matches nothing here", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      await theirs.createKey({ externalId: "user_foreign_only" });
      await mine.createKey();
      const res = await mine.post<ApisListKeysResponse>(PATH, { apiId: mine.apiId, externalId: "user_foreign_only" });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
    });

    it("excludes deleted keys, also when the cursor points at a key deleted meanwhile", async () => {
      const h = await Harness.init();
      const created = await createKeys(h, 5);
      expect((await h.post("/v2/keys.deleteKey", { keyId: created[1]!.keyId })).status).toBe(200);
      const all = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId });
      expect(ids(all)).toEqual([created[0]!, created[2]!, created[3]!, created[4]!].map((k) => k.keyId));

      const first = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 2 });
      expect(ids(first)).toEqual([created[0]!.keyId, created[2]!.keyId]);
      expect(first.body.pagination.hasMore).toBe(true);
      // The next page starts at created[3]; delete it before asking for that page.
      expect((await h.post("/v2/keys.deleteKey", { keyId: created[3]!.keyId, permanent: true })).status).toBe(200);
      const second = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 2, cursor: first.body.pagination.cursor });
      expect(second.status).toBe(200);
      expect(ids(second)).toEqual([created[4]!.keyId]);
      expect(second.body.pagination).toEqual({ hasMore: false });
    });

    it("revalidateKeysCache rewrites the KV records of the listed keys from D1", async () => {
      const h = await Harness.init();
      const [first, second] = await createKeys(h, 2);
      // createKey writes nothing to KV: a new key's first verify reads D1.
      for (const k of [first!, second!]) expect(await env.EDGE.get(await kvName(k.key))).toBeNull();

      // A plain list does not write KV.
      expect((await h.post(PATH, { apiId: h.apiId, limit: 1 })).status).toBe(200);
      expect(await env.EDGE.get(await kvName(first!.key))).toBeNull();

      const res = await h.post<ApisListKeysResponse>(PATH, { apiId: h.apiId, limit: 1, revalidateKeysCache: true });
      expect(res.status).toBe(200);
      expect(ids(res)).toEqual([first!.keyId]);
      const entry = await env.EDGE.get<{ v: number; record: { keyId: string; name: string } }>(await kvName(first!.key), "json");
      expect(entry).toMatchObject({ v: 1, record: { keyId: first!.keyId, name: "key-0" } });
      // Only the listed page is revalidated.
      expect(await env.EDGE.get(await kvName(second!.key))).toBeNull();
    });

    it("revalidateKeysCache repairs a wrong KV entry, so a cold isolate verifies the key again", async () => {
      const h = await Harness.init();
      const { key, keyId } = await h.createKey({ name: "repaired" });
      await env.EDGE.put(await kvName(key), JSON.stringify({ v: 1, tombstone: true, revision: 0 }));
      recordCache(5000).clear();
      expect((await h.verify(key)).code).toBe("NOT_FOUND");

      expect((await h.post(PATH, { apiId: h.apiId, revalidateKeysCache: true })).status).toBe(200);
      recordCache(5000).clear();
      expect(await h.verify(key)).toMatchObject({ valid: true, code: "VALID", keyId, name: "repaired" });
    });

    it("works through the official SDK, including its page iterator", async () => {
      const h = await Harness.init();
      const created = (await createKeys(h, 5, { externalId: "user_sdk", meta: { tier: "gold" } })).map((k) => k.keyId);
      const sdk = h.sdk();
      const first = await sdk.apis.listKeys({ apiId: h.apiId, limit: 2 });
      expect(first.result.meta.requestId).toMatch(/^req_/);
      expect(first.result.data.map((k) => k.keyId)).toEqual(created.slice(0, 2));
      expect(first.result.data[0]).toMatchObject({ name: "key-0", meta: { tier: "gold" }, identity: { externalId: "user_sdk" } });
      expect(first.result.pagination.hasMore).toBe(true);

      const walked: string[] = [];
      const last: boolean[] = [];
      for await (const page of first) {
        walked.push(...page.result.data.map((k) => k.keyId));
        last.push(page.result.pagination.hasMore);
      }
      expect(walked).toEqual(created);
      expect(last).toEqual([true, true, false]);
    });
  });

  describe("errors", () => {
    it("404 api_not_found for an unknown or deleted API", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { apiId: "api_doesNotExist0000000" });
      expect(missing.status).toBe(404);
      expect(missing.headers.get("content-type")).toMatch(/^application\/json/);
      expect(missing.body.error).toMatchObject({ status: 404, title: "Not Found", type: API_NOT_FOUND });

      await h.createKey();
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(200);
      const deleted = await h.post(PATH, { apiId: h.apiId });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe(API_NOT_FOUND);
    });

    it("400 with errors[] naming the field for wrong types and out-of-range values", async () => {
      const h = await Harness.init();
      const cases: [Record<string, unknown>, string][] = [
        [{}, "body.apiId"],
        [{ apiId: "" }, "body.apiId"],
        [{ apiId: 123 }, "body.apiId"],
        [{ apiId: null }, "body.apiId"],
        [{ apiId: "a".repeat(256) }, "body.apiId"],
        [{ apiId: h.apiId, limit: 0 }, "body.limit"],
        [{ apiId: h.apiId, limit: 101 }, "body.limit"],
        [{ apiId: h.apiId, limit: -1 }, "body.limit"],
        [{ apiId: h.apiId, limit: 1.5 }, "body.limit"],
        [{ apiId: h.apiId, limit: "10" }, "body.limit"],
        [{ apiId: h.apiId, limit: null }, "body.limit"],
        [{ apiId: h.apiId, cursor: "" }, "body.cursor"],
        [{ apiId: h.apiId, cursor: 5 }, "body.cursor"],
        [{ apiId: h.apiId, cursor: "k".repeat(1025) }, "body.cursor"],
        [{ apiId: h.apiId, externalId: "" }, "body.externalId"],
        [{ apiId: h.apiId, externalId: "has space" }, "body.externalId"],
        [{ apiId: h.apiId, externalId: 42 }, "body.externalId"],
        [{ apiId: h.apiId, decrypt: "yes" }, "body.decrypt"],
        [{ apiId: h.apiId, revalidateKeysCache: 1 }, "body.revalidateKeysCache"],
        [{ apiId: h.apiId, search: "x" }, "body.search"],
        [{ apiId: h.apiId, limit: 10, filters: {} }, "body.filters"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error).toMatchObject({ status: 400, title: "Bad Request", type: INVALID_INPUT });
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain(location);
      }
    });

    it("412 for decrypt:true on an API that does not store encrypted keys", async () => {
      const h = await Harness.init();
      await h.createKey();
      const res = await h.post(PATH, { apiId: h.apiId, decrypt: true });
      expect(res.status).toBe(412);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error).toMatchObject({
        status: 412,
        title: "Precondition Failed",
        type: "https://unkey.com/docs/errors/unkey/application/precondition_failed",
      });
    });

    it("403 for decrypt:true without decrypt_key, even though listing is allowed", async () => {
      const h = await Harness.init();
      const key = await h.createRootKey([`api.${h.apiId}.read_api`, `api.${h.apiId}.read_key`]);
      expect((await h.post(PATH, { apiId: h.apiId }, { key })).status).toBe(200);
      const res = await h.post(PATH, { apiId: h.apiId, decrypt: true }, { key });
      expect(res.status).toBe(403);
      expect(res.body.error.type).toBe(INSUFFICIENT);
    });

    it("the SDK raises its typed errors for 400, 403 and 412", async () => {
      const h = await Harness.init();
      const bad = await h.sdk().apis.listKeys({ apiId: h.apiId, limit: 101 }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(BadRequestErrorResponse);
      expect((bad as BadRequestErrorResponse).error.errors.map((e) => e.location)).toContain("body.limit");
      const narrow = await h.createRootKey(["api.*.read_api"]);
      const denied = await h.sdk(narrow).apis.listKeys({ apiId: h.apiId }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(ForbiddenErrorResponse);
      const decrypt = await h.sdk().apis.listKeys({ apiId: h.apiId, decrypt: true }).catch((e: unknown) => e);
      // Unkey's spec declares no 412 for listKeys, so the SDK reports it as its generic APIError.
      expect(decrypt).toBeInstanceOf(APIError);
      expect((decrypt as APIError).statusCode).toBe(412);
    });

    it("403 for a root key holding only read_key or only read_api", async () => {
      const h = await Harness.init();
      await h.createKey();
      for (const perms of [["api.*.read_key"], ["api.*.read_api"], [`api.${h.apiId}.read_key`], [`api.${h.apiId}.read_api`], ["api.*.read_api", `api.${h.apiId}.create_key`]]) {
        const key = await h.createRootKey(perms);
        const res = await h.post(PATH, { apiId: h.apiId }, { key });
        expect(res.status, perms.join(",")).toBe(403);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error.type).toBe(INSUFFICIENT);
      }
      // Mixing the wildcard and the specific form is enough.
      const mixed = await h.createRootKey(["api.*.read_api", `api.${h.apiId}.read_key`]);
      expect((await h.post(PATH, { apiId: h.apiId }, { key: mixed })).status).toBe(200);
    });
  });

  describeSecurity({
    operation: "apis.listKeys",
    setup: async (h) => {
      await h.createKey();
      return { body: { apiId: h.apiId }, apiId: h.apiId };
    },
    grant: (apiId = "*") => [`api.${apiId}.read_api`, `api.${apiId}.read_key`],
    missing: () => ({ apiId: "api_doesNotExist0000000" }),
  });
});
