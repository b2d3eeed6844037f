import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RatelimitDeleteOverrideResponse } from "../../../src/routes/v2/ratelimit.deleteOverride";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.deleteOverride";

async function createNamespace(h: Harness, name = `ns.${crypto.randomUUID()}`): Promise<{ name: string; id: string }> {
  const res = await h.post("/v2/ratelimit.limit", { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(h.workspaceId, name).first<{ id: string }>();
  return { name, id: row!.id };
}

async function setOverride(h: Harness, namespace: string, identifier: string, limit = 10): Promise<string> {
  const res = await h.post("/v2/ratelimit.setOverride", { namespace, identifier, limit, duration: 60_000 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.overrideId;
}

describe("ratelimit.deleteOverride", () => {
  describe("happy", () => {
    it("deletes the override: get is a 404, limit falls back to the next match, other overrides stay", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const broad = await setOverride(h, ns.id, "user_*", 20);
      await setOverride(h, ns.id, "user_1", 5);
      const res = await h.post<RatelimitDeleteOverrideResponse>(PATH, { namespace: ns.name, identifier: "user_1" });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({});
      expect((await h.post("/v2/ratelimit.getOverride", { namespace: ns.id, identifier: "user_1" })).status).toBe(404);
      const limited = await h.post("/v2/ratelimit.limit", { namespace: ns.id, identifier: "user_1", limit: 1, duration: 60_000, cost: 0 });
      expect(limited.body.data).toMatchObject({ limit: 20, overrideId: broad });
      const list = await h.post("/v2/ratelimit.listOverrides", { namespace: ns.id });
      expect(list.body.data.map((o: { overrideId: string }) => o.overrideId)).toEqual([broad]);
    });

    it("deletes a pattern only when named exactly as set", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      await setOverride(h, ns.id, "user_*");
      expect((await h.post(PATH, { namespace: ns.id, identifier: "user_1" })).status).toBe(404);
      expect((await h.post(PATH, { namespace: ns.id, identifier: "user_*" })).status).toBe(200);
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      await setOverride(h, ns.name, "sdk");
      const res = await h.sdk().ratelimit.deleteOverride({ namespace: ns.name, identifier: "sdk" });
      expect(res.data).toEqual({});
      await expect(h.sdk().ratelimit.deleteOverride({ namespace: ns.name, identifier: "sdk" })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("404 for an unknown namespace, or for an override deleted already", async () => {
      const h = await Harness.init();
      const missingNs = await h.post(PATH, { namespace: "never.used", identifier: "x" });
      expect(missingNs.status).toBe(404);
      expect(missingNs.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
      const ns = await createNamespace(h);
      await setOverride(h, ns.id, "x");
      expect((await h.post(PATH, { namespace: ns.id, identifier: "x" })).status).toBe(200);
      const again = await h.post(PATH, { namespace: ns.id, identifier: "x" });
      expect(again.status).toBe(404);
      expect(again.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_override_not_found");
    });

    it("400 for missing or unknown fields", async () => {
      const h = await Harness.init();
      for (const body of [{ namespace: "ns" }, { identifier: "x" }, { namespace: "ns", identifier: "x", permanent: true }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });
  });

  describeSecurity({
    operation: "ratelimit.deleteOverride",
    setup: async (h) => {
      const ns = await createNamespace(h);
      await setOverride(h, ns.id, "user_1");
      return { body: { namespace: ns.id, identifier: "user_1" }, apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.delete_override`],
    missing: () => ({ namespace: "rlns_doesNotExist000000", identifier: "user_1" }),
  });
});
