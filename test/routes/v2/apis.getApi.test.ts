import { BadRequestErrorResponse, NotFoundErrorResponse } from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { ApisGetApiResponse } from "../../../src/routes/v2/apis.getApi";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/apis.getApi";
const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";
const API_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/api_not_found";

/** Fails with the JSON path of the first `null` found anywhere in `value`. */
function expectNoNulls(value: unknown, path = "$"): void {
  expect(value, `null at ${path}`).not.toBeNull();
  if (Array.isArray(value)) value.forEach((v, i) => expectNoNulls(v, `${path}[${i}]`));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) expectNoNulls(v, `${path}.${k}`);
}

describe("apis.getApi", () => {
  describe("happy", () => {
    it("returns exactly the API's id and name", async () => {
      const h = await Harness.init();
      const res = await h.post<ApisGetApiResponse>(PATH, { apiId: h.apiId });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.data).toEqual({ id: h.apiId, name: "test-api" });
      expect(Object.keys(res.body).sort()).toEqual(["data", "meta"]);
      expectNoNulls(res.body);
    });

    it("tells APIs of one workspace apart", async () => {
      const h = await Harness.init();
      const other = await h.createApi("second-api");
      expect((await h.post<ApisGetApiResponse>(PATH, { apiId: other })).body.data).toEqual({ id: other, name: "second-api" });
      expect((await h.post<ApisGetApiResponse>(PATH, { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api" });
    });

    it("is unaffected by the API's keys being created and deleted", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ name: "short-lived" });
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      const res = await h.post<ApisGetApiResponse>(PATH, { apiId: h.apiId });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ id: h.apiId, name: "test-api" });
    });

    it("works through the official SDK", async () => {
      const h = await Harness.init();
      const apiId = await h.createApi("sdk-visible-api");
      const res = await h.sdk().apis.getApi({ apiId });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({ id: apiId, name: "sdk-visible-api" });
    });
  });

  describe("errors", () => {
    it("404 api_not_found for an unknown id, at both length bounds", async () => {
      const h = await Harness.init();
      for (const apiId of ["api_doesNotExist0000000", "api_1234", "a".repeat(255)]) {
        const res = await h.post(PATH, { apiId });
        expect(res.status, apiId).toBe(404);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.meta.requestId).toMatch(/^req_/);
        expect(res.body.error).toMatchObject({ status: 404, title: "Not Found", type: API_NOT_FOUND });
        expect(typeof res.body.error.detail).toBe("string");
      }
    });

    it("404 for a deleted API, and for a key id passed as an API id", async () => {
      const h = await Harness.init();
      const apiId = await h.createApi("doomed-api");
      expect((await h.post("/v2/apis.deleteApi", { apiId })).status).toBe(200);
      const deleted = await h.post(PATH, { apiId });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe(API_NOT_FOUND);

      const { keyId } = await h.createKey();
      const wrongKind = await h.post(PATH, { apiId: keyId });
      expect(wrongKind.status).toBe(404);
      expect(wrongKind.body.error.type).toBe(API_NOT_FOUND);
    });

    it("400 with errors[] at body.apiId for a missing, short, long or mistyped id", async () => {
      const h = await Harness.init();
      for (const body of [{}, { apiId: "" }, { apiId: "api_123" }, { apiId: "a".repeat(256) }, { apiId: 12345678 }, { apiId: null }, { apiId: [h.apiId] }, { apiId: true }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.error).toMatchObject({ status: 400, title: "Bad Request", type: INVALID_INPUT });
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain("body.apiId");
      }
    });

    it("400 naming an unknown field next to a valid apiId", async () => {
      const h = await Harness.init();
      const res = await h.post(PATH, { apiId: h.apiId, includeKeys: true });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.type).toBe(INVALID_INPUT);
      expect(res.body.error.errors).toEqual([expect.objectContaining({ location: "body.includeKeys" })]);
    });

    it("the SDK raises its typed errors for a missing API and for a bad id", async () => {
      const h = await Harness.init();
      const sdk = h.sdk();
      const missing = await sdk.apis.getApi({ apiId: "api_doesNotExist0000000" }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(NotFoundErrorResponse);
      expect((missing as NotFoundErrorResponse).error.type).toBe(API_NOT_FOUND);
      const bad = await sdk.apis.getApi({ apiId: "short" }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(BadRequestErrorResponse);
      expect((bad as BadRequestErrorResponse).error.errors.map((e) => e.location)).toContain("body.apiId");
    });

    it("403 for root keys holding other api permissions but not read_api", async () => {
      const h = await Harness.init();
      const key = await h.createRootKey(["api.*.read_key", "api.*.create_api", `api.${h.apiId}.update_api`]);
      const res = await h.post(PATH, { apiId: h.apiId }, { key });
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
    });
  });

  describeSecurity({
    operation: "apis.getApi",
    setup: async (h) => ({ body: { apiId: h.apiId }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.read_api`],
    missing: () => ({ apiId: "api_doesNotExist0000000" }),
  });
});
