import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { IdentitiesGetIdentityResponse } from "../../../src/routes/v2/identities.getIdentity";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const ERR = "https://unkey.com/docs/errors/";

function ext(label: string): string {
  return `${label}_${crypto.randomUUID().slice(0, 8)}`;
}

async function create(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post("/v2/identities.createIdentity", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.identityId;
}

async function get(h: Harness, identity: string) {
  return h.post("/v2/identities.getIdentity", { identity });
}

describe("identities.getIdentity", () => {
  describe("happy", () => {
    it("finds the identity by id and by externalId, with the same answer", async () => {
      const h = await Harness.init();
      const externalId = ext("user");
      const identityId = await create(h, {
        externalId,
        meta: { nested: { a: [1, 2] } },
        ratelimits: [
          { name: "tokens", limit: 1000, duration: 60_000, autoApply: false },
          { name: "requests", limit: 10, duration: 1000, autoApply: true },
        ],
      });
      const byId = await h.post<IdentitiesGetIdentityResponse>("/v2/identities.getIdentity", { identity: identityId });
      expect(byId.status).toBe(200);
      expect(byId.headers.get("content-type")).toMatch(/^application\/json/);
      expect(byId.body.meta.requestId).toMatch(/^req_/);
      expect(byId.body.data).toEqual({
        id: identityId,
        externalId,
        meta: { nested: { a: [1, 2] } },
        // Ordered by name.
        ratelimits: [
          { id: expect.stringMatching(/^rl_/), name: "requests", limit: 10, duration: 1000, autoApply: true },
          { id: expect.stringMatching(/^rl_/), name: "tokens", limit: 1000, duration: 60_000, autoApply: false },
        ],
      });
      const byExternalId = await get(h, externalId);
      expect(byExternalId.body.data).toEqual(byId.body.data);
    });

    it("an identity created by keys.createKey is found, without meta or limits", async () => {
      const h = await Harness.init();
      const externalId = ext("fromkey");
      const { keyId } = await h.createKey({ externalId, ratelimits: [{ name: "keyonly", limit: 1, duration: 1000 }] });
      const key = await h.post("/v2/keys.getKey", { keyId });
      const res = await get(h, externalId);
      expect(res.status).toBe(200);
      // The key's own limits are not the identity's.
      expect(res.body.data).toEqual({ id: key.body.data.identity.id, externalId });
    });

    it("an id match wins over another identity whose externalId equals that id", async () => {
      const h = await Harness.init();
      const first = await create(h, { externalId: ext("first") });
      // A second identity whose externalId is the first one's id.
      const second = await create(h, { externalId: first });
      expect((await get(h, first)).body.data.id).toBe(first);
      expect((await get(h, second)).body.data).toEqual({ id: second, externalId: first });
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const externalId = ext("sdk");
      const identityId = await create(h, { externalId, meta: { k: "v" }, ratelimits: [{ name: "requests", limit: 2, duration: 2000 }] });
      const res = await h.sdk().identities.getIdentity({ identity: externalId });
      expect(res.data).toEqual({
        id: identityId,
        externalId,
        meta: { k: "v" },
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 2, duration: 2000, autoApply: false }],
      });
      await expect(h.sdk().identities.getIdentity({ identity: "id_missing000000000000" })).rejects.toBeInstanceOf(
        errors.NotFoundErrorResponse,
      );
    });
  });

  describe("errors", () => {
    it("404 for an unknown id or externalId, and for a deleted identity", async () => {
      const h = await Harness.init();
      for (const identity of ["id_doesNotExist0000000", "nobody_here"]) {
        const res = await get(h, identity);
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe(`${ERR}unkey/data/identity_not_found`);
        expect(res.body.error.title).toBe("Not Found");
      }
      const externalId = ext("gone");
      const identityId = await create(h, { externalId });
      expect((await h.post("/v2/identities.deleteIdentity", { identity: identityId })).status).toBe(200);
      expect((await get(h, identityId)).status).toBe(404);
      expect((await get(h, externalId)).status).toBe(404);
    });

    it("another workspace's identity is not found by id or by externalId", async () => {
      const mine = await Harness.init();
      const theirs = await Harness.init();
      const externalId = ext("theirs");
      const identityId = await create(theirs, { externalId });
      for (const identity of [identityId, externalId]) {
        const res = await get(mine, identity);
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe(`${ERR}unkey/data/identity_not_found`);
      }
    });

    it("400 for a missing, empty, too long or non-string identity, or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{}, "body.identity"],
        [{ identity: "" }, "body.identity"],
        [{ identity: "x".repeat(256) }, "body.identity"],
        [{ identity: 7 }, "body.identity"],
        [{ identity: "abc", extra: 1 }, "body.extra"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/identities.getIdentity", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });
  });

  describeSecurity({
    operation: "identities.getIdentity",
    setup: async (h) => ({ body: { identity: await create(h, { externalId: ext("sec") }) } }),
    grant: () => ["identity.*.read_identity"],
    missing: () => ({ identity: "id_doesNotExist0000000" }),
  });
});
