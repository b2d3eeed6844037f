import { describe, expect, it } from "vitest";
import type { IdentitiesListIdentitiesResponse } from "../../../src/routes/v2/identities.listIdentities";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function ext(label: string): string {
  return `${label}_${crypto.randomUUID().slice(0, 8)}`;
}

async function create(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/identities.createIdentity", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.identityId;
}

async function list(h: Harness, body: Record<string, unknown> = {}) {
  const res = await h.post<IdentitiesListIdentitiesResponse>("/v2/identities.listIdentities", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("identities.listIdentities", () => {
  describe("happy", () => {
    it("lists the workspace's identities oldest first, with meta and limits, and nothing of other workspaces", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      await create(other, { externalId: ext("foreign") });
      const plain = ext("plain");
      const rich = ext("rich");
      const plainId = await create(h, { externalId: plain });
      const richId = await create(h, {
        externalId: rich,
        meta: { plan: "pro" },
        ratelimits: [{ name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      const fromKey = ext("fromkey");
      await h.createKey({ externalId: fromKey });
      const body = await list(h);
      expect(body.meta.requestId).toMatch(/^req_/);
      expect(body.pagination).toEqual({ hasMore: false });
      expect(body.data.map((i) => i.externalId)).toEqual([plain, rich, fromKey]);
      expect(body.data[0]).toEqual({ id: plainId, externalId: plain });
      expect(body.data[1]).toEqual({
        id: richId,
        externalId: rich,
        meta: { plan: "pro" },
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 5, duration: 60_000, autoApply: true }],
      });
      expect(JSON.stringify(body)).not.toContain("null");
    });

    it("an empty workspace lists nothing", async () => {
      const h = await Harness.init();
      expect(await list(h)).toMatchObject({ data: [], pagination: { hasMore: false } });
    });

    it("pages with limit and cursor; the cursor is the first id of the next page", async () => {
      const h = await Harness.init();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          await create(h, { externalId: `page_${i}`, ratelimits: [{ name: `limit_${i}`, limit: i + 1, duration: 1000 }] }),
        );
      }
      const first = await list(h, { limit: 2 });
      expect(first.data.map((i) => i.id)).toEqual(ids.slice(0, 2));
      expect(first.pagination).toEqual({ cursor: ids[2], hasMore: true });
      const second = await list(h, { limit: 2, cursor: first.pagination.cursor });
      expect(second.data.map((i) => i.id)).toEqual(ids.slice(2, 4));
      // Limits stay with their own identity across pages.
      expect(second.data.map((i) => i.ratelimits?.map((r) => r.name))).toEqual([["limit_2"], ["limit_3"]]);
      const third = await list(h, { limit: 2, cursor: second.pagination.cursor });
      expect(third.data.map((i) => i.id)).toEqual(ids.slice(4));
      expect(third.pagination).toEqual({ hasMore: false });
      // Exactly `limit` left: no further page.
      const exact = await list(h, { limit: 3, cursor: ids[2] });
      expect(exact.data).toHaveLength(3);
      expect(exact.pagination).toEqual({ hasMore: false });
    });

    it("search matches a substring of the externalId, taking LIKE wildcards literally", async () => {
      const h = await Harness.init();
      const tag = crypto.randomUUID().slice(0, 6);
      await create(h, { externalId: `alice_${tag}` });
      await create(h, { externalId: `bob_${tag}` });
      await create(h, { externalId: `alicexsmith` });
      await create(h, { externalId: `carol-${tag}` });
      const names = async (search: string) => (await list(h, { search })).data.map((i) => i.externalId);
      expect(await names("alice")).toEqual([`alice_${tag}`, "alicexsmith"]);
      expect(await names(tag)).toEqual([`alice_${tag}`, `bob_${tag}`, `carol-${tag}`]);
      // `_` and `%` are plain characters, not LIKE wildcards.
      expect(await names("alice_")).toEqual([`alice_${tag}`]);
      expect(await names("%")).toEqual([]);
      expect(await names("nobody")).toEqual([]);
      // Search and pagination combine.
      const page = await list(h, { search: tag, limit: 2 });
      expect(page.data.map((i) => i.externalId)).toEqual([`alice_${tag}`, `bob_${tag}`]);
      expect(page.pagination.hasMore).toBe(true);
      const rest = await list(h, { search: tag, limit: 2, cursor: page.pagination.cursor });
      expect(rest.data.map((i) => i.externalId)).toEqual([`carol-${tag}`]);
    });

    it("works through the SDK, whose page iterator follows the cursors", async () => {
      const h = await Harness.init();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push(await create(h, { externalId: `sdk_${i}`, meta: { i } }));
      const seen: string[] = [];
      let pages = 0;
      for await (const page of await h.sdk().identities.listIdentities({ limit: 2 })) {
        pages++;
        seen.push(...page.result.data.map((i) => i.id));
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(created);
      const first = await h.sdk().identities.listIdentities({ search: "sdk_3" });
      expect(first.result.data).toEqual([{ id: created[3], externalId: "sdk_3", meta: { i: 3 } }]);
      expect(first.result.pagination).toEqual({ hasMore: false });
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, cursor or search, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ limit: 0 }, "body.limit"],
        [{ limit: 101 }, "body.limit"],
        [{ limit: 1.5 }, "body.limit"],
        [{ cursor: "" }, "body.cursor"],
        [{ search: "x".repeat(257) }, "body.search"],
        [{ search: 5 }, "body.search"],
        [{ externalId: "x" }, "body.externalId"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/identities.listIdentities", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      expect((await h.post("/v2/identities.listIdentities", { limit: 100, search: "x".repeat(256) })).status).toBe(200);
    });

    it("a cursor past the end, or from another workspace, yields an empty or own-only page", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const foreign = await create(other, { externalId: ext("foreign") });
      const mine = await create(h, { externalId: ext("mine") });
      expect((await list(h, { cursor: "zzzzzzzz" })).data).toEqual([]);
      // A foreign cursor only positions the scan; it never exposes the other workspace's rows.
      const page = await list(h, { cursor: foreign });
      expect(page.data.every((i) => i.id !== foreign)).toBe(true);
      expect(page.data.map((i) => i.id)).toEqual(mine > foreign ? [mine] : []);
    });
  });

  describeSecurity({
    operation: "identities.listIdentities",
    setup: async (h) => {
      await create(h, { externalId: ext("sec") });
      return { body: {} };
    },
    grant: () => ["identity.*.read_identity"],
  });
});
