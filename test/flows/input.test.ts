/**
 * Bad input never produces a 500: malformed JSON, wrong content types, oversized bodies, wrong types,
 * out-of-range values and unknown fields are all 400s in the documented format, on every route.
 */
import { describe, expect, it } from "vitest";
import { routes } from "../../src/routes/v2";
import { BASE_URL, Harness, post } from "../harness";
import { exports } from "cloudflare:workers";

const paths = routes.map((r) => `/v2/${r.operationId}`);

function expectBadRequest(res: { status: number; body: any; headers: Headers }, label: string): void {
  expect(res.status, label).toBe(400);
  expect(res.headers.get("content-type"), label).toMatch(/^application\/json/);
  expect(res.body.meta.requestId, label).toMatch(/^req_/);
  expect(res.body.error.status, label).toBe(400);
  expect(res.body.error.type, label).toMatch(/^https:\/\/unkey\.com\/docs\/errors\//);
  expect(res.body.error.errors.length, label).toBeGreaterThan(0);
  for (const e of res.body.error.errors) {
    expect(typeof e.location, label).toBe("string");
    expect(typeof e.message, label).toBe("string");
  }
}

describe("malformed requests", () => {
  it("malformed JSON is a 400 on every route", async () => {
    const h = await Harness.init();
    for (const path of paths) {
      for (const body of ["{", "{\"name\":", "not json", "{\"a\":1}}", ""]) {
        expectBadRequest(await h.post(path, body), `${path} ${JSON.stringify(body)}`);
      }
    }
  });

  it("a body that is not a JSON object is a 400 on every route", async () => {
    const h = await Harness.init();
    for (const path of paths) {
      for (const body of ["[]", "null", "42", "\"text\"", "true"]) {
        expectBadRequest(await h.post(path, body), `${path} ${body}`);
      }
    }
  });

  it("a non-JSON content type is a 400", async () => {
    const h = await Harness.init();
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await h.post("/v2/apis.createApi", { name: "valid-name" }, { headers: { "content-type": type } });
      expectBadRequest(res, type);
      expect(res.body.error.errors[0].location).toBe("header.content-type");
    }
    const withCharset = await h.post("/v2/apis.createApi", { name: "valid-name" }, { headers: { "content-type": "application/json; charset=utf-8" } });
    expect(withCharset.status).toBe(200);
  });

  it("an oversized body is a 400 whether or not Content-Length announces it", async () => {
    const h = await Harness.init();
    const big = JSON.stringify({ apiId: h.apiId, meta: { blob: "x".repeat(1024 * 1024 + 10) } });
    expectBadRequest(await h.post("/v2/keys.createKey", big), "declared");
    // Streamed without a Content-Length header: the cap applies to what is read.
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const res = await exports.default.fetch(
      new Request(`${BASE_URL}/v2/keys.createKey`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${h.rootKey}` },
        body: stream,
        // @ts-expect-error duplex is required by the runtime for streamed bodies
        duplex: "half",
      }),
    );
    expect(res.status).toBe(400);
    const body: any = await res.json();
    expect(body.error.type).toBe("https://unkey.com/docs/errors/user/bad_request/request_body_too_large");
  });

  it("wrong types, out-of-range values and unknown fields name the field", async () => {
    const h = await Harness.init();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["/v2/apis.createApi", { name: 5 }, "body.name"],
      ["/v2/apis.createApi", { name: "ab" }, "body.name"],
      ["/v2/apis.createApi", { name: "valid", extra: 1 }, "body.extra"],
      ["/v2/keys.createKey", { apiId: h.apiId, byteLength: 1e300 }, "body.byteLength"],
      ["/v2/keys.createKey", { apiId: h.apiId, byteLength: 16.5 }, "body.byteLength"],
      ["/v2/keys.createKey", { apiId: h.apiId, expires: "tomorrow" }, "body.expires"],
      ["/v2/keys.createKey", { apiId: h.apiId, credits: { remaining: -1 } }, "body.credits.remaining"],
      ["/v2/keys.createKey", { apiId: h.apiId, ratelimits: [{ name: "abc", limit: 1, duration: 10 }] }, "body.ratelimits[0].duration"],
      ["/v2/keys.createKey", { apiId: h.apiId, credits: { remaining: 1, refill: { interval: "hourly", amount: 1 } } }, "body.credits.refill.interval"],
      ["/v2/keys.createKey", { apiId: h.apiId, meta: [] }, "body.meta"],
      ["/v2/keys.updateKey", { keyId: "key_abc", enabled: "yes" }, "body.enabled"],
      ["/v2/keys.rerollKey", { keyId: "key_abc", expiration: -5 }, "body.expiration"],
      ["/v2/keys.verifyKey", { key: "" }, "body.key"],
      ["/v2/keys.verifyKey", { key: "k".repeat(513) }, "body.key"],
      ["/v2/apis.listKeys", { apiId: h.apiId, limit: 1000 }, "body.limit"],
    ];
    for (const [path, body, location] of cases) {
      const res = await h.post(path, body);
      expectBadRequest(res, `${path} ${JSON.stringify(body).slice(0, 80)}`);
      expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
    }
  });

  it("deeply nested meta is a 400, not a stack overflow later", async () => {
    const h = await Harness.init();
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = { a: deep };
    const res = await h.post("/v2/keys.createKey", `{"apiId":"${h.apiId}","meta":${JSON.stringify(deep)}}`);
    expectBadRequest(res, "deep meta");
    expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.meta");
    let ok: unknown = "leaf";
    for (let i = 0; i < 31; i++) ok = { a: ok };
    expect((await h.post("/v2/keys.createKey", { apiId: h.apiId, meta: ok })).status).toBe(200);
  });

  it("no generated garbage produces a 500", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    const values: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, -(2 ** 60), "", " ", "x".repeat(600), "\u0000", "😀", [], [1], {}, { a: { b: {} } }, keyId, key, h.apiId];
    const fields = ["apiId", "keyId", "key", "name", "meta", "expires", "enabled", "credits", "ratelimits", "externalId", "prefix", "byteLength", "expiration", "permanent", "limit", "cursor", "tags", "decrypt"];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const path of paths) {
      for (let i = 0; i < 6; i++) {
        const body: Record<string, unknown> = {};
        for (let j = rand(4); j >= 0; j--) body[fields[rand(fields.length)]!] = values[rand(values.length)];
        const res = await post(path, body, h.rootKey);
        expect(res.status, `${path} ${JSON.stringify(body).slice(0, 200)}`).toBeLessThan(500);
        expect(res.body.meta?.requestId, path).toMatch(/^req_/);
      }
    }
    // The key used as garbage input is untouched unless a call legitimately changed it.
    expect((await h.post("/v2/keys.getKey", { keyId })).status).toBeLessThan(500);
  }, 90_000);
});
