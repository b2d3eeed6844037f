/// <reference types="vite/client" />
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { routes } from "../../src/routes/v2";
import { Harness } from "../harness";

const BASE_URL = "http://latch.test";

/** Every route module on disk (keys are paths like "../../src/routes/v2/keys.getKey.ts"). */
const routeFiles = Object.keys(import.meta.glob("../../src/routes/v2/*.ts"))
  .map((path) => path.slice(path.lastIndexOf("/") + 1).replace(/\.ts$/, ""))
  .filter((name) => name !== "index" && !name.endsWith(".test"))
  .sort();

type Schema = { [k: string]: unknown };
type OpenApiDoc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { operationId?: string; requestBody?: { content?: Record<string, { schema?: Schema }> }; security?: unknown }>>;
  components?: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, { type?: string; scheme?: string }> };
};

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await exports.default.fetch(new Request(BASE_URL + path, { headers }));
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text; assertions below will show it
  }
  return { status: res.status, body, headers: res.headers };
}

async function openApi(): Promise<OpenApiDoc> {
  const res = await get("/openapi.json");
  expect(res.status).toBe(200);
  return res.body as OpenApiDoc;
}

function resolve(doc: OpenApiDoc, schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== "string") return schema;
  const name = ref.replace(/^#\/components\/schemas\//, "");
  const target = doc.components?.schemas?.[name];
  if (!target) throw new Error(`unresolved $ref ${ref}`);
  return resolve(doc, target);
}

function requestSchema(doc: OpenApiDoc, operationId: string): Schema {
  const op = doc.paths[`/v2/${operationId}`]?.post;
  const schema = op?.requestBody?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`no JSON request body schema for ${operationId}`);
  return resolve(doc, schema);
}

/** Every object schema reachable from `schema`, with a JSONPath-ish location, for the strictness check. */
function objectSchemas(doc: OpenApiDoc, schema: Schema, at: string, out: Array<{ at: string; schema: Schema }>, seen = new Set<Schema>()): void {
  const s = resolve(doc, schema);
  if (seen.has(s)) return;
  seen.add(s);
  if (s.type === "object" || (Array.isArray(s.type) && s.type.includes("object")) || s.properties) out.push({ at, schema: s });
  const props = (s.properties ?? {}) as Record<string, Schema>;
  for (const [k, v] of Object.entries(props)) objectSchemas(doc, v, `${at}.${k}`, out, seen);
  if (s.items && typeof s.items === "object") objectSchemas(doc, s.items as Schema, `${at}[]`, out, seen);
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const list = s[key];
    if (Array.isArray(list)) list.forEach((sub: Schema) => objectSchemas(doc, sub, at, out, seen));
  }
}

describe("route registry", () => {
  it("finds the route files on disk", async () => {
    const h = await Harness.init();
    expect(h.apiId).toBeTruthy();
    expect(routeFiles.length).toBeGreaterThanOrEqual(11);
    expect(routeFiles).toContain("keys.verifyKey");
    expect(routeFiles).toContain("apis.createApi");
  });

  it("lists every route file in src/routes/v2/index.ts, and nothing else", async () => {
    await Harness.init();
    const registered = routes.map((r) => r.operationId).sort();
    expect(registered).toEqual(routeFiles);
  });

  it("has unique operationIds, each equal to its module's file name", async () => {
    await Harness.init();
    const ids = routes.map((r) => r.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const modules = import.meta.glob<{ operationId: string; register: unknown }>("../../src/routes/v2/*.ts", { eager: true });
    for (const [path, mod] of Object.entries(modules)) {
      const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.ts$/, "");
      if (name === "index") continue;
      expect(mod.operationId, path).toBe(name);
      expect(typeof mod.register, path).toBe("function");
      expect(routes, path).toContain(mod);
    }
  });
});

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1.0 document", async () => {
    await Harness.init();
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.openapi).toBe("3.1.0");
    expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(res.body.paths).toBeTypeOf("object");
  });

  it("has a POST /v2/<operationId> for every route", async () => {
    await Harness.init();
    const doc = await openApi();
    for (const { operationId } of routes) {
      const item = doc.paths[`/v2/${operationId}`];
      expect(item, operationId).toBeDefined();
      expect(item!.post, operationId).toBeDefined();
      expect(item!.post!.operationId).toBe(operationId);
      expect(Object.keys(item!).filter((m) => ["get", "put", "patch", "delete"].includes(m)), operationId).toEqual([]);
    }
  });

  it("declares additionalProperties: false on every request body schema", async () => {
    await Harness.init();
    const doc = await openApi();
    for (const { operationId } of routes) {
      let schema = requestSchema(doc, operationId);
      // ratelimit.multiLimit takes a bare array (Unkey's contract): its elements are the strict objects.
      if (schema.type === "array") schema = resolve(doc, schema.items as Schema);
      expect(schema.type, operationId).toBe("object");
      expect(schema.additionalProperties, operationId).toBe(false);
    }
  });

  it("declares additionalProperties: false on every nested request object that declares fields", async () => {
    await Harness.init();
    const doc = await openApi();
    const loose: string[] = [];
    for (const { operationId } of routes) {
      const found: Array<{ at: string; schema: Schema }> = [];
      objectSchemas(doc, requestSchema(doc, operationId), operationId, found);
      for (const { at, schema } of found) {
        // Only objects that declare fields are checked: free-form JSON (meta) accepts any field, and
        // type-only fragments (e.g. the nullable half of an allOf next to a $ref) declare none.
        if (!schema.properties) continue;
        if (schema.additionalProperties !== false) loose.push(at);
      }
    }
    expect(loose).toEqual([]);
  });

  it("has the bearer security scheme, used by every route", async () => {
    await Harness.init();
    const doc = await openApi();
    const schemes = doc.components?.securitySchemes ?? {};
    const bearer = Object.entries(schemes).filter(([, s]) => s.type === "http" && s.scheme === "bearer");
    expect(bearer.length).toBeGreaterThanOrEqual(1);
    expect(schemes.rootKey).toMatchObject({ type: "http", scheme: "bearer" });
    // The one operation a root key does not authorize: GitHub's signed secret-scanning alerts.
    const signedByGithub = new Set(["github.secretScanning"]);
    for (const { operationId } of routes) {
      const expected = signedByGithub.has(operationId) ? [{ githubSignature: [] }] : [{ rootKey: [] }];
      expect(doc.paths[`/v2/${operationId}`]!.post!.security, operationId).toEqual(expected);
    }
  });
});

describe("GET /v2/liveness", () => {
  it("answers 200 without auth", async () => {
    await Harness.init();
    const res = await get("/v2/liveness");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: { message: expect.any(String) } });
    expect(res.body.data.message.length).toBeGreaterThan(0);
  });
});

describe("unmatched requests", () => {
  function expectErrorFormat(body: any, status: number): void {
    expect(body).toMatchObject({
      meta: { requestId: expect.stringMatching(/^req_/) },
      error: {
        title: expect.any(String),
        detail: expect.any(String),
        status,
        type: expect.stringMatching(/^https:\/\/unkey\.com\/docs\/errors\//),
      },
    });
  }

  it("an unknown path is a 404 in the error format", async () => {
    await Harness.init();
    for (const path of ["/v2/keys.doesNotExist", "/nope", "/v1/keys.getKey"]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expectErrorFormat(res.body, 404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/route_not_found");
    }
  });

  it("an unknown path is a 404 for POST too, even with a valid root key", async () => {
    const h = await Harness.init();
    const res = await h.post("/v2/keys.doesNotExist", {});
    expect(res.status).toBe(404);
    expectErrorFormat(res.body, 404);
  });

  it("GET on a POST route is a 404 or 405 in the error format", async () => {
    const h = await Harness.init();
    for (const { operationId } of routes) {
      const res = await get(`/v2/${operationId}`, { authorization: `Bearer ${h.rootKey}` });
      expect([404, 405], operationId).toContain(res.status);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expectErrorFormat(res.body, res.status);
    }
  });
});
