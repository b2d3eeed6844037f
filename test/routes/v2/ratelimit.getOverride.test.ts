import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RatelimitGetOverrideResponse } from "../../../src/routes/v2/ratelimit.getOverride";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.getOverride";

async function createNamespace(h: Harness, name = `ns.${crypto.randomUUID()}`): Promise<{ name: string; id: string }> {
  const res = await h.post("/v2/ratelimit.limit", { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(h.workspaceId, name).first<{ id: string }>();
  return { name, id: row!.id };
}

async function setOverride(h: Harness, namespace: string, identifier: string, limit = 10, duration = 60_000): Promise<string> {
  const res = await h.post("/v2/ratelimit.setOverride", { namespace, identifier, limit, duration });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.overrideId;
}

describe("ratelimit.getOverride", () => {
  describe("happy", () => {
    it("returns exactly the stored override, by namespace name or id", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const overrideId = await setOverride(h, ns.id, "user_*", 7, 45_000);
      for (const namespace of [ns.id, ns.name]) {
        const res = await h.post<RatelimitGetOverrideResponse>(PATH, { namespace, identifier: "user_*" });
        expect(res.status).toBe(200);
        expect(res.body.data).toEqual({ overrideId, identifier: "user_*", limit: 7, duration: 45_000 });
      }
    });

    it("looks a pattern up as written: an identifier it matches is not an override", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      await setOverride(h, ns.id, "user_*");
      const res = await h.post(PATH, { namespace: ns.id, identifier: "user_1" });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_override_not_found");
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const overrideId = await setOverride(h, ns.name, "sdk", 3, 2000);
      const res = await h.sdk().ratelimit.getOverride({ namespace: ns.name, identifier: "sdk" });
      expect(res.data).toEqual({ overrideId, identifier: "sdk", limit: 3, duration: 2000 });
      await expect(h.sdk().ratelimit.getOverride({ namespace: ns.name, identifier: "nobody" })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("404 for an unknown namespace or override", async () => {
      const h = await Harness.init();
      const missingNs = await h.post(PATH, { namespace: "never.used", identifier: "x" });
      expect(missingNs.status).toBe(404);
      expect(missingNs.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
      const ns = await createNamespace(h);
      const missing = await h.post(PATH, { namespace: ns.id, identifier: "x" });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_override_not_found");
    });

    it("400 for missing, empty, too long or unknown fields", async () => {
      const h = await Harness.init();
      for (const body of [{ namespace: "ns" }, { identifier: "x" }, { namespace: "", identifier: "x" }, { namespace: "ns", identifier: "x".repeat(513) }, { namespace: "ns", identifier: "x", limit: 1 }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });
  });

  describeSecurity({
    operation: "ratelimit.getOverride",
    setup: async (h) => {
      const ns = await createNamespace(h);
      await setOverride(h, ns.id, "user_1");
      return { body: { namespace: ns.id, identifier: "user_1" }, apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.read_override`],
    missing: () => ({ namespace: "rlns_doesNotExist000000", identifier: "user_1" }),
  });
});
