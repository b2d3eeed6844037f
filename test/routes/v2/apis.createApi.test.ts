import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApisCreateApiResponse } from "../../../src/routes/v2/apis.createApi";
import type { ApisGetApiResponse } from "../../../src/routes/v2/apis.getApi";
import { Harness, post } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/apis.createApi";
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";

/** Fails with the JSON path of the first `null` found anywhere in `value`. */
function expectNoNulls(value: unknown, path = "$"): void {
  expect(value, `null at ${path}`).not.toBeNull();
  if (Array.isArray(value)) value.forEach((v, i) => expectNoNulls(v, `${path}[${i}]`));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) expectNoNulls(v, `${path}.${k}`);
}

async function countApis(workspaceId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM apis WHERE workspace_id = ?").bind(workspaceId).first<{ n: number }>();
  return row?.n ?? 0;
}

describe("apis.createApi", () => {
  describe("happy", () => {
    it("creates an API in the root key's workspace and returns only its id", async () => {
      const h = await Harness.init();
      const res = await h.post<ApisCreateApiResponse>(PATH, { name: "payments-production" });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(Object.keys(res.body.data)).toEqual(["apiId"]);
      expect(res.body.data.apiId).toMatch(/^api_[a-zA-Z0-9]+$/);
      expect(res.body.data.apiId).not.toBe(h.apiId);
      expectNoNulls(res.body);

      const got = await h.post<ApisGetApiResponse>("/v2/apis.getApi", { apiId: res.body.data.apiId });
      expect(got.status).toBe(200);
      expect(got.body.data).toEqual({ id: res.body.data.apiId, name: "payments-production" });

      const row = await env.DB.prepare("SELECT workspace_id AS ws FROM apis WHERE id = ?").bind(res.body.data.apiId).first<{ ws: string }>();
      expect(row?.ws).toBe(h.workspaceId);
    });

    it("accepts names at both length bounds and any characters, stored verbatim", async () => {
      const h = await Harness.init();
      for (const name of ["abc", "x".repeat(256), "Prod API · ünïcödé / v2"]) {
        const res = await h.post<ApisCreateApiResponse>(PATH, { name });
        expect(res.status, JSON.stringify(name)).toBe(200);
        const got = await h.post<ApisGetApiResponse>("/v2/apis.getApi", { apiId: res.body.data.apiId });
        expect(got.body.data.name).toBe(name);
      }
    });

    it("allows duplicate names, each with its own id and keyspace", async () => {
      const h = await Harness.init();
      const a = await h.post<ApisCreateApiResponse>(PATH, { name: "same-name" });
      const b = await h.post<ApisCreateApiResponse>(PATH, { name: "same-name" });
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(a.body.data.apiId).not.toBe(b.body.data.apiId);
      const rows = await env.DB.prepare("SELECT keyspace_id AS ks FROM apis WHERE id IN (?, ?)")
        .bind(a.body.data.apiId, b.body.data.apiId)
        .all<{ ks: string }>();
      expect(new Set(rows.results.map((r) => r.ks)).size).toBe(2);
    });

    it("returns an API that can hold keys at once", async () => {
      const h = await Harness.init();
      const res = await h.post<ApisCreateApiResponse>(PATH, { name: "fresh-api" });
      const created = await h.post("/v2/keys.createKey", { apiId: res.body.data.apiId, prefix: "fresh" });
      expect(created.status).toBe(200);
      const verified = await h.verify(created.body.data.key);
      expect(verified).toMatchObject({ valid: true, code: "VALID", keyId: created.body.data.keyId });
      const listed = await h.post("/v2/apis.listKeys", { apiId: res.body.data.apiId });
      expect(listed.body.data.map((k: { keyId: string }) => k.keyId)).toEqual([created.body.data.keyId]);
    });

    it("works through the official SDK", async () => {
      const h = await Harness.init();
      const sdk = h.sdk();
      const created = await sdk.apis.createApi({ name: "sdk-created-api" });
      expect(created.meta.requestId).toMatch(/^req_/);
      expect(created.data.apiId).toMatch(/^api_/);
      const got = await sdk.apis.getApi({ apiId: created.data.apiId });
      expect(got.data).toEqual({ id: created.data.apiId, name: "sdk-created-api" });
    });
  });

  describe("errors", () => {
    it("400 with errors[] at body.name for a missing, short, long or mistyped name, and creates nothing", async () => {
      const h = await Harness.init();
      const before = await countApis(h.workspaceId);
      for (const body of [{}, { name: "ab" }, { name: "" }, { name: "x".repeat(257) }, { name: 123 }, { name: null }, { name: ["abc"] }, { name: { v: "abc" } }, { name: true }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.meta.requestId).toMatch(/^req_/);
        expect(res.body.error).toMatchObject({ status: 400, title: "Bad Request", type: INVALID_INPUT });
        expect(typeof res.body.error.detail).toBe("string");
        expect(res.body.error.errors.length).toBeGreaterThan(0);
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain("body.name");
        for (const e of res.body.error.errors) expect(typeof e.message).toBe("string");
      }
      expect(await countApis(h.workspaceId)).toBe(before);
    });

    it("400 naming each unknown field, even next to a valid name", async () => {
      const h = await Harness.init();
      const before = await countApis(h.workspaceId);
      const res = await h.post(PATH, { name: "valid-name", workspaceId: "ws_other", deleteProtection: true });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.type).toBe(INVALID_INPUT);
      const locations = res.body.error.errors.map((e: { location: string }) => e.location);
      expect(locations).toEqual(expect.arrayContaining(["body.workspaceId", "body.deleteProtection"]));
      expect(await countApis(h.workspaceId)).toBe(before);
    });

    it("400 for a body that is not a JSON object", async () => {
      const h = await Harness.init();
      for (const body of [[{ name: "abc" }], "just a string", 42]) {
        const res = await h.post(PATH, JSON.stringify(body));
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors[0].location).toBe("body");
      }
    });

    it("400 for unreadable JSON and for a non-JSON content type", async () => {
      const h = await Harness.init();
      const broken = await h.post(PATH, '{"name": "abc"');
      expect(broken.status).toBe(400);
      expect(broken.headers.get("content-type")).toMatch(/^application\/json/);
      expect(broken.body.error.type).toBe("https://unkey.com/docs/errors/user/bad_request/request_body_unreadable");
      expect(broken.body.error.errors.length).toBeGreaterThan(0);

      const text = await post(PATH, JSON.stringify({ name: "abc" }), h.rootKey, { "content-type": "text/plain" });
      expect(text.status).toBe(400);
      expect(text.headers.get("content-type")).toMatch(/^application\/json/);
      expect(text.body.error.errors).toEqual([expect.objectContaining({ location: "header.content-type" })]);
    });

    it("403 for a root key holding create_api only for a specific API (createApi needs the wildcard)", async () => {
      const h = await Harness.init();
      const before = await countApis(h.workspaceId);
      const key = await h.createRootKey([`api.${h.apiId}.create_api`, "api.*.read_api"]);
      const res = await h.post(PATH, { name: "not-allowed" }, { key });
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      expect(await countApis(h.workspaceId)).toBe(before);
    });

    it("an API created with another workspace's root key is invisible here", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      const res = await theirs.post<ApisCreateApiResponse>(PATH, { name: "their-api" });
      expect(res.status).toBe(200);
      const got = await mine.post("/v2/apis.getApi", { apiId: res.body.data.apiId });
      expect(got.status).toBe(404);
      expect(got.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/api_not_found");
    });
  });

  describeSecurity({
    operation: "apis.createApi",
    setup: async () => ({ body: { name: "secured-api" } }),
    grant: () => ["api.*.create_api"],
  });
});
