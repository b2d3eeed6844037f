import { describe, expect, it } from "vitest";
import type { PermissionsListPermissionsResponse } from "../../../src/routes/v2/permissions.listPermissions";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function tag(): string {
  return crypto.randomUUID().slice(0, 8);
}

async function createPermission(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/permissions.createPermission", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.permissionId;
}

async function list(h: Harness, body: Record<string, unknown> = {}) {
  const res = await h.post<PermissionsListPermissionsResponse>("/v2/permissions.listPermissions", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("permissions.listPermissions", () => {
  describe("happy", () => {
    it("lists the workspace's permissions in id order, and nothing of other workspaces", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      await createPermission(other, { name: "foreign", slug: `foreign.${tag()}` });
      const a = await createPermission(h, { name: "A", slug: "docs.read", description: "reads" });
      const b = await createPermission(h, { name: "B", slug: "docs.write" });
      const body = await list(h);
      expect(body.meta.requestId).toMatch(/^req_/);
      expect(body.pagination).toEqual({ hasMore: false });
      const expected = [
        { id: a, name: "A", slug: "docs.read", description: "reads" },
        { id: b, name: "B", slug: "docs.write" },
      ].sort((x, y) => (x.id < y.id ? -1 : 1));
      expect(body.data).toEqual(expected);
      expect(JSON.stringify(body)).not.toContain("null");
    });

    it("an empty workspace lists nothing", async () => {
      const h = await Harness.init();
      expect(await list(h)).toMatchObject({ data: [], pagination: { hasMore: false } });
    });

    it("pages with limit and cursor; the cursor is the first id of the next page", async () => {
      const h = await Harness.init();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await createPermission(h, { name: `p${i}`, slug: `page.${i}` }));
      ids.sort();
      const first = await list(h, { limit: 2 });
      expect(first.data.map((p) => p.id)).toEqual(ids.slice(0, 2));
      expect(first.pagination).toEqual({ cursor: ids[2], hasMore: true });
      const second = await list(h, { limit: 2, cursor: first.pagination.cursor });
      expect(second.data.map((p) => p.id)).toEqual(ids.slice(2, 4));
      const third = await list(h, { limit: 2, cursor: second.pagination.cursor });
      expect(third.data.map((p) => p.id)).toEqual(ids.slice(4));
      expect(third.pagination).toEqual({ hasMore: false });
      const exact = await list(h, { limit: 3, cursor: ids[2] });
      expect(exact.data).toHaveLength(3);
      expect(exact.pagination).toEqual({ hasMore: false });
    });

    it("search matches id, name, slug or description, ignoring case and taking % and _ literally", async () => {
      const h = await Harness.init();
      const byName = await createPermission(h, { name: "Billing Admin", slug: "billing.admin" });
      const bySlug = await createPermission(h, { name: "Reports", slug: "reports_view" });
      const byDescription = await createPermission(h, { name: "Export", slug: "export", description: "Download 100% of INVOICES" });
      const ids = async (search: string) => (await list(h, { search })).data.map((p) => p.id);
      expect(await ids("billing")).toEqual([byName]);
      expect(await ids("BILLING ADM")).toEqual([byName]);
      expect(await ids("ts_v")).toEqual([bySlug]);
      expect(await ids("invoices")).toEqual([byDescription]);
      expect(await ids(byDescription.slice(-10))).toEqual([byDescription]);
      // `%` and `_` are plain characters.
      expect(await ids("100%")).toEqual([byDescription]);
      expect(await ids("%")).toEqual([byDescription]);
      expect(await ids("s_v")).toEqual([bySlug]);
      expect(await ids("rts_")).toEqual([bySlug]);
      expect(await ids("r_p")).toEqual([]);
      expect(await ids("nothing-like-this")).toEqual([]);
      // Longer than D1's 50-byte cap on LIKE patterns, and non-ASCII text matching itself.
      const long = "a long description that goes well past fifty bytes, Ünïcödé included";
      const described = await createPermission(h, { name: "Long", slug: "long", description: long });
      expect(await ids(long.toUpperCase().replace("ÜNÏCÖDÉ", "Ünïcödé"))).toEqual([described]);
      expect(await ids("Ünïcödé")).toEqual([described]);
      // Search combines with paging.
      const all = [byName, bySlug, byDescription, described].sort();
      const page = await list(h, { search: "e", limit: 2 });
      expect(page.data.map((p) => p.id)).toEqual(all.slice(0, 2));
      expect(page.pagination).toEqual({ cursor: all[2], hasMore: true });
      expect((await list(h, { search: "e", limit: 2, cursor: page.pagination.cursor })).data.map((p) => p.id)).toEqual(all.slice(2));
    });

    it("works through the SDK, whose page iterator follows the cursors", async () => {
      const h = await Harness.init();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push(await createPermission(h, { name: `sdk ${i}`, slug: `sdk.${i}`, description: `d${i}` }));
      created.sort();
      const seen: string[] = [];
      let pages = 0;
      for await (const page of await h.sdk().permissions.listPermissions({ limit: 2 })) {
        pages++;
        seen.push(...page.result.data.map((p) => p.id));
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(created);
      const one = await h.sdk().permissions.listPermissions({ search: "sdk.3" });
      expect(one.result.data).toEqual([{ id: expect.stringMatching(/^perm_/), name: "sdk 3", slug: "sdk.3", description: "d3" }]);
      expect(one.result.pagination).toEqual({ hasMore: false });
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, cursor or search, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ limit: 0 }, "body.limit"],
        [{ limit: 101 }, "body.limit"],
        [{ limit: 2.5 }, "body.limit"],
        [{ cursor: "" }, "body.cursor"],
        [{ search: "x".repeat(257) }, "body.search"],
        [{ search: null }, "body.search"],
        [{ slug: "x" }, "body.slug"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.listPermissions", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("a foreign or past-the-end cursor never exposes another workspace's permissions", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const foreign = await createPermission(other, { name: "f", slug: `f.${tag()}` });
      const mine = await createPermission(h, { name: "m", slug: `m.${tag()}` });
      expect((await list(h, { cursor: "zzzzzzzz" })).data).toEqual([]);
      const page = await list(h, { cursor: foreign });
      expect(page.data.map((p) => p.id)).toEqual(mine >= foreign ? [mine] : []);
    });
  });

  describeSecurity({
    operation: "permissions.listPermissions",
    setup: async () => ({ body: { limit: 10 } }),
    grant: () => ["rbac.*.read_permission"],
  });
});
