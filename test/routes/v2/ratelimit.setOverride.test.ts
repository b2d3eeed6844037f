import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_DURATION_MS } from "../../../src/lib/limiter-protocol";
import type { RatelimitSetOverrideResponse } from "../../../src/routes/v2/ratelimit.setOverride";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.setOverride";

async function createNamespace(h: Harness, name = `ns.${crypto.randomUUID()}`): Promise<{ name: string; id: string }> {
  const res = await h.post("/v2/ratelimit.limit", { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(h.workspaceId, name).first<{ id: string }>();
  return { name, id: row!.id };
}

describe("ratelimit.setOverride", () => {
  describe("happy", () => {
    it("creates an override, by namespace name or id, and ratelimit.limit applies it at once", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const res = await h.post<RatelimitSetOverrideResponse>(PATH, { namespace: ns.name, identifier: "user_1", limit: 2, duration: 30_000 });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ overrideId: expect.stringMatching(/^rlor_/) });
      const byId = await h.post<RatelimitSetOverrideResponse>(PATH, { namespace: ns.id, identifier: "team_*", limit: 0, duration: 1000 });
      expect(byId.body.data.overrideId).not.toBe(res.body.data.overrideId);

      const limited = await h.post("/v2/ratelimit.limit", { namespace: ns.name, identifier: "user_1", limit: 100, duration: 60_000 });
      expect(limited.body.data).toMatchObject({ limit: 2, remaining: 1, overrideId: res.body.data.overrideId });
      const blocked = await h.post("/v2/ratelimit.limit", { namespace: ns.name, identifier: "team_a", limit: 100, duration: 60_000 });
      expect(blocked.body.data).toMatchObject({ success: false, limit: 0, overrideId: byId.body.data.overrideId });
    });

    it("upserts: setting the same identifier again keeps the id and replaces limit and duration", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const first = await h.post<RatelimitSetOverrideResponse>(PATH, { namespace: ns.id, identifier: "vip_*", limit: 5, duration: 60_000 });
      const second = await h.post<RatelimitSetOverrideResponse>(PATH, { namespace: ns.name, identifier: "vip_*", limit: 50, duration: MAX_DURATION_MS });
      expect(second.body.data.overrideId).toBe(first.body.data.overrideId);
      const got = await h.post("/v2/ratelimit.getOverride", { namespace: ns.id, identifier: "vip_*" });
      expect(got.body.data).toEqual({ overrideId: first.body.data.overrideId, identifier: "vip_*", limit: 50, duration: MAX_DURATION_MS });
      const list = await h.post("/v2/ratelimit.listOverrides", { namespace: ns.id });
      expect(list.body.data).toHaveLength(1);
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const res = await h.sdk().ratelimit.setOverride({ namespace: ns.name, identifier: "sdk_*", limit: 3, duration: 60_000 });
      expect(res.data.overrideId).toMatch(/^rlor_/);
      await expect(
        h.sdk().ratelimit.setOverride({ namespace: "no.such.namespace", identifier: "x", limit: 3, duration: 60_000 }),
      ).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    });
  });

  describe("errors", () => {
    it("400 for missing, out-of-range or unknown fields", async () => {
      const h = await Harness.init();
      const ok = { namespace: "ns", identifier: "x", limit: 1, duration: 1000 };
      const cases: Array<[unknown, string]> = [
        [{ ...ok, namespace: undefined }, "body.namespace"],
        [{ ...ok, identifier: "" }, "body.identifier"],
        [{ ...ok, identifier: "*".repeat(513) }, "body.identifier"],
        [{ ...ok, limit: -1 }, "body.limit"],
        [{ ...ok, limit: undefined }, "body.limit"],
        [{ ...ok, duration: 999 }, "body.duration"],
        [{ ...ok, duration: MAX_DURATION_MS + 1 }, "body.duration"],
        [{ ...ok, async: false }, "body.async"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("404 for a namespace that does not exist, which setOverride does not create", async () => {
      const h = await Harness.init();
      for (const namespace of ["never.used", "rlns_doesNotExist000000"]) {
        const res = await h.post(PATH, { namespace, identifier: "x", limit: 1, duration: 1000 });
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
      }
      const rows = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ?").bind(h.workspaceId).all();
      expect(rows.results).toHaveLength(0);
    });
  });

  describeSecurity({
    operation: "ratelimit.setOverride",
    setup: async (h) => {
      const ns = await createNamespace(h);
      return { body: { namespace: ns.id, identifier: "user_*", limit: 10, duration: 60_000 }, apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.set_override`],
    missing: () => ({ namespace: "rlns_doesNotExist000000", identifier: "user_*", limit: 10, duration: 60_000 }),
  });
});
