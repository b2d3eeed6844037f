import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RatelimitListOverridesResponse } from "../../../src/routes/v2/ratelimit.listOverrides";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.listOverrides";

async function createNamespace(h: Harness, name = `ns.${crypto.randomUUID()}`): Promise<{ name: string; id: string }> {
  const res = await h.post("/v2/ratelimit.limit", { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(h.workspaceId, name).first<{ id: string }>();
  return { name, id: row!.id };
}

/**
 * Creates `n` overrides and returns their ids in list order: by id, which is creation order to the
 * millisecond (two created within one millisecond may come either way, so the test sorts rather than trusts).
 */
async function setOverrides(h: Harness, namespace: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await h.post("/v2/ratelimit.setOverride", { namespace, identifier: `user_${i}`, limit: i, duration: 1000 + i });
    ids.push(res.body.data.overrideId);
  }
  return ids.sort();
}

describe("ratelimit.listOverrides", () => {
  describe("happy", () => {
    it("pages 10 at a time by default, oldest first, with a cursor while more remain", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const ids = await setOverrides(h, ns.id, 12);
      const first = await h.post<RatelimitListOverridesResponse>(PATH, { namespace: ns.name });
      expect(first.status).toBe(200);
      expect(first.body.data.map((o) => o.overrideId)).toEqual(ids.slice(0, 10));
      for (const o of first.body.data) {
        const i = Number(o.identifier.slice("user_".length));
        expect(o).toEqual({ overrideId: expect.stringMatching(/^rlor_/), identifier: `user_${i}`, limit: i, duration: 1000 + i });
      }
      expect(first.body.pagination).toEqual({ cursor: ids[10], hasMore: true });
      const second = await h.post<RatelimitListOverridesResponse>(PATH, { namespace: ns.id, cursor: first.body.pagination.cursor });
      expect(second.body.data.map((o) => o.overrideId)).toEqual(ids.slice(10));
      expect(second.body.pagination).toEqual({ hasMore: false });
    });

    it("lists nothing for a namespace without overrides, and only this namespace's", async () => {
      const h = await Harness.init();
      const empty = await createNamespace(h);
      const other = await createNamespace(h);
      await setOverrides(h, other.id, 2);
      const res = await h.post(PATH, { namespace: empty.id, limit: 100 });
      expect(res.body).toMatchObject({ data: [], pagination: { hasMore: false } });
      expect((await h.post(PATH, { namespace: other.id })).body.data).toHaveLength(2);
    });

    it("pages through Unkey's SDK iterator", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const ids = await setOverrides(h, ns.id, 7);
      const pages: string[][] = [];
      for await (const page of await h.sdk().ratelimit.listOverrides({ namespace: ns.name, limit: 3 })) {
        pages.push(page.result.data.map((o) => o.overrideId));
      }
      expect(pages).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)]);
    });
  });

  describe("errors", () => {
    it("400 for a limit outside 1..100, an empty cursor or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{ namespace: "ns", limit: 0 }, { namespace: "ns", limit: 101 }, { namespace: "ns", cursor: "" }, { namespace: "ns", search: "x" }, {}]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });

    it("404 for an unknown namespace", async () => {
      const h = await Harness.init();
      const res = await h.post(PATH, { namespace: "never.used" });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
    });
  });

  describeSecurity({
    operation: "ratelimit.listOverrides",
    setup: async (h) => {
      const ns = await createNamespace(h);
      return { body: { namespace: ns.id }, apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.read_override`],
    missing: () => ({ namespace: "rlns_doesNotExist000000" }),
  });
});
