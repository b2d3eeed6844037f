import { describe, expect, it } from "vitest";
import type { PermissionsListRolesResponse } from "../../../src/routes/v2/permissions.listRoles";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function unique(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

async function createRole(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

async function list(h: Harness, body: Record<string, unknown> = {}) {
  const res = await h.post<PermissionsListRolesResponse>("/v2/permissions.listRoles", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("permissions.listRoles", () => {
  describe("happy", () => {
    it("lists the workspace's roles in id order, each with its own permissions, and nothing of other workspaces", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      await createRole(other, { name: "foreign", permissions: ["foreign.read"] });
      const admin = await createRole(h, { name: "admin", description: "Everything", permissions: ["b.write", "a.read"] });
      const viewer = await createRole(h, { name: "viewer", permissions: ["a.read"] });
      const empty = await createRole(h, { name: "empty" });
      const perms = (await h.post("/v2/permissions.listPermissions", {})).body.data as Array<{ id: string; slug: string }>;
      const perm = (s: string) => ({ id: perms.find((p) => p.slug === s)!.id, name: s, slug: s });
      const body = await list(h);
      expect(body.meta.requestId).toMatch(/^req_/);
      expect(body.pagination).toEqual({ hasMore: false });
      expect(body.data).toEqual(
        [
          { id: admin, name: "admin", description: "Everything", permissions: [perm("a.read"), perm("b.write")] },
          { id: viewer, name: "viewer", permissions: [perm("a.read")] },
          { id: empty, name: "empty", permissions: [] },
        ].sort((x, y) => (x.id < y.id ? -1 : 1)),
      );
      expect(JSON.stringify(body)).not.toContain("null");
    });

    it("an empty workspace lists nothing", async () => {
      const h = await Harness.init();
      expect(await list(h)).toMatchObject({ data: [], pagination: { hasMore: false } });
    });

    it("pages with limit and cursor; permissions stay with their role across pages", async () => {
      const h = await Harness.init();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await createRole(h, { name: `role_${i}`, permissions: [`only.${i}`] }));
      const byId = new Map(ids.map((id, i) => [id, i]));
      ids.sort();
      const first = await list(h, { limit: 2 });
      expect(first.data.map((r) => r.id)).toEqual(ids.slice(0, 2));
      expect(first.pagination).toEqual({ cursor: ids[2], hasMore: true });
      const second = await list(h, { limit: 2, cursor: first.pagination.cursor });
      expect(second.data.map((r) => r.id)).toEqual(ids.slice(2, 4));
      const third = await list(h, { limit: 2, cursor: second.pagination.cursor });
      expect(third.data.map((r) => r.id)).toEqual(ids.slice(4));
      expect(third.pagination).toEqual({ hasMore: false });
      for (const role of [...first.data, ...second.data, ...third.data]) {
        expect(role.permissions?.map((p) => p.slug)).toEqual([`only.${byId.get(role.id)}`]);
      }
    });

    it("search matches id, name or description, ignoring case and taking % and _ literally", async () => {
      const h = await Harness.init();
      const billing = await createRole(h, { name: "Billing_Admin", permissions: ["matches.no.role.search"] });
      const support = await createRole(h, { name: "support", description: "Handles 50% of TICKETS" });
      const ids = async (search: string) => (await list(h, { search })).data.map((r) => r.id);
      expect(await ids("billing")).toEqual([billing]);
      expect(await ids("BILLING_A")).toEqual([billing]);
      expect(await ids("tickets")).toEqual([support]);
      expect(await ids("50%")).toEqual([support]);
      expect(await ids(support.slice(-10))).toEqual([support]);
      expect(await ids("g_a")).toEqual([billing]);
      // Unescaped, `_` would match any character ("g a" is not in the name).
      expect(await ids("o_t")).toEqual([]);
      // A permission's slug is not a role's text.
      expect(await ids("matches.no")).toEqual([]);
      // Longer than D1's 50-byte cap on LIKE patterns.
      const long = await createRole(h, { name: "long", description: "a description that is longer than fifty bytes, on purpose" });
      expect(await ids("THAT IS LONGER THAN FIFTY BYTES, ON PURPOSE")).toEqual([long]);
      expect(await ids("x".repeat(256))).toEqual([]);
    });

    it("works through the SDK, whose page iterator follows the cursors", async () => {
      const h = await Harness.init();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push(await createRole(h, { name: `sdk_${i}`, permissions: [`sdk.${i}`] }));
      created.sort();
      const seen: string[] = [];
      let pages = 0;
      for await (const page of await h.sdk().permissions.listRoles({ limit: 2 })) {
        pages++;
        seen.push(...page.result.data.map((r) => r.id));
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(created);
      const one = await h.sdk().permissions.listRoles({ search: "sdk_3" });
      expect(one.result.data).toEqual([
        { id: expect.stringMatching(/^role_/), name: "sdk_3", permissions: [{ id: expect.stringMatching(/^perm_/), name: "sdk.3", slug: "sdk.3" }] },
      ]);
      expect(one.result.pagination).toEqual({ hasMore: false });
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, cursor or search, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ limit: 0 }, "body.limit"],
        [{ limit: 101 }, "body.limit"],
        [{ limit: "10" }, "body.limit"],
        [{ cursor: "" }, "body.cursor"],
        [{ search: "x".repeat(257) }, "body.search"],
        [{ name: "x" }, "body.name"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.listRoles", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("a foreign or past-the-end cursor never exposes another workspace's roles", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const foreign = await createRole(other, { name: unique("f") });
      const mine = await createRole(h, { name: unique("m") });
      expect((await list(h, { cursor: "zzzzzzzz" })).data).toEqual([]);
      expect((await list(h, { cursor: foreign })).data.map((r) => r.id)).toEqual(mine >= foreign ? [mine] : []);
    });
  });

  describeSecurity({
    operation: "permissions.listRoles",
    setup: async () => ({ body: { limit: 5 } }),
    grant: () => ["rbac.*.read_role"],
  });
});
