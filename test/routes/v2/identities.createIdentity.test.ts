import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import type { IdentitiesCreateIdentityResponse } from "../../../src/routes/v2/identities.createIdentity";
import type { IdentitiesGetIdentityResponse } from "../../../src/routes/v2/identities.getIdentity";
import { BASE_URL, Harness } from "../../harness";
import { describeSecurity } from "../../security";

const ERR = "https://unkey.com/docs/errors/";

/** A fresh externalId, so tests in this file never collide in a workspace. */
function ext(label: string): string {
  return `${label}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Requests through an app whose clock stands still at `t`, so window arithmetic is exact. */
function clockedPost(h: Harness, t: number) {
  const app = createApp({ clock: { now: () => t } });
  return async (path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(BASE_URL + path, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${h.rootKey}` },
        body: JSON.stringify(body),
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: await res.json() };
  };
}

/** The middle of a fixed window of `duration` ms: no previous window weighs in, counts are exact. */
function midWindow(duration: number): number {
  return Math.floor(Date.now() / duration) * duration + duration / 2;
}

async function create(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await h.post<IdentitiesCreateIdentityResponse>("/v2/identities.createIdentity", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.meta.requestId).toMatch(/^req_/);
  return res.body.data.identityId;
}

describe("identities.createIdentity", () => {
  describe("happy", () => {
    it("stores the externalId, meta and limits, readable by id", async () => {
      const h = await Harness.init();
      const externalId = ext("user");
      const identityId = await create(h, {
        externalId,
        meta: { plan: "pro", seats: 3 },
        ratelimits: [
          { name: "requests", limit: 10, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 1000, duration: 3_600_000 },
        ],
      });
      expect(identityId).toMatch(/^id_/);
      const got = await h.post<IdentitiesGetIdentityResponse>("/v2/identities.getIdentity", { identity: identityId });
      expect(got.status).toBe(200);
      expect(got.body.data).toEqual({
        id: identityId,
        externalId,
        meta: { plan: "pro", seats: 3 },
        ratelimits: [
          { id: expect.stringMatching(/^rl_/), name: "requests", limit: 10, duration: 60_000, autoApply: true },
          { id: expect.stringMatching(/^rl_/), name: "tokens", limit: 1000, duration: 3_600_000, autoApply: false },
        ],
      });
    });

    it("a minimal identity has no meta and no limits (omitted, not null)", async () => {
      const h = await Harness.init();
      const externalId = ext("a.b-c");
      const identityId = await create(h, { externalId });
      const got = await h.post("/v2/identities.getIdentity", { identity: identityId });
      expect(got.body.data).toEqual({ id: identityId, externalId });
      expect(JSON.stringify(got.body)).not.toContain("null");
    });

    it("keys created later with the externalId are linked to it", async () => {
      const h = await Harness.init();
      const externalId = ext("linked");
      const identityId = await create(h, { externalId, meta: { tier: "gold" } });
      const { keyId, key } = await h.createKey({ externalId });
      const got = await h.post("/v2/keys.getKey", { keyId });
      expect(got.body.data.identity).toEqual({ id: identityId, externalId, meta: { tier: "gold" } });
      expect((await h.verify(key)).identity).toEqual({ id: identityId, externalId, meta: { tier: "gold" } });
    });

    it("works through the SDK, and the same externalId may exist in another workspace", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const externalId = ext("sdk");
      const res = await h.sdk().identities.createIdentity({
        externalId,
        meta: { source: "sdk" },
        ratelimits: [{ name: "requests", limit: 5, duration: 1000 }],
      });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data.identityId).toMatch(/^id_/);
      const theirs = await other.sdk().identities.createIdentity({ externalId });
      expect(theirs.data.identityId).not.toBe(res.data.identityId);
      const got = await h.sdk().identities.getIdentity({ identity: externalId });
      expect(got.data).toMatchObject({ id: res.data.identityId, meta: { source: "sdk" }, ratelimits: [{ name: "requests", autoApply: false }] });
    });

    it("an autoApply identity limit is shared by every key of the identity", async () => {
      const h = await Harness.init();
      const externalId = ext("shared");
      const duration = 60_000;
      const post = clockedPost(h, midWindow(duration));
      const created = await post("/v2/identities.createIdentity", {
        externalId,
        ratelimits: [{ name: "requests", limit: 3, duration, autoApply: true }],
      });
      expect(created.status).toBe(200);
      const a = await h.createKey({ externalId });
      const b = await h.createKey({ externalId });
      const codes: string[] = [];
      for (const key of [a.key, b.key, a.key, b.key, a.key]) {
        const res = await post("/v2/keys.verifyKey", { key });
        expect(res.status).toBe(200);
        codes.push(res.body.data.code);
      }
      expect(codes).toEqual(["VALID", "VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"]);
      const last = await post("/v2/keys.verifyKey", { key: b.key });
      expect(last.body.data).toMatchObject({
        valid: false,
        code: "RATE_LIMITED",
        identity: { id: created.body.data.identityId, externalId },
        ratelimits: [{ name: "requests", exceeded: true, limit: 3, remaining: 0, duration, autoApply: true }],
      });
    });

    it("concurrent verifies across several keys admit exactly the identity's limit", async () => {
      const h = await Harness.init();
      const externalId = ext("burst");
      const duration = 3_600_000;
      const post = clockedPost(h, midWindow(duration));
      await create(h, { externalId, ratelimits: [{ name: "requests", limit: 10, duration, autoApply: true }] });
      const keys = await Promise.all([1, 2, 3].map(() => h.createKey({ externalId })));
      const results = await Promise.all(
        Array.from({ length: 45 }, (_, i) => post("/v2/keys.verifyKey", { key: keys[i % 3]!.key })),
      );
      const codes = results.map((r) => r.body.data.code);
      expect(codes.filter((c) => c === "VALID")).toHaveLength(10);
      expect(codes.filter((c) => c === "RATE_LIMITED")).toHaveLength(35);
    });
  });

  describe("errors", () => {
    it("409 for an externalId that already exists, also one created by keys.createKey", async () => {
      const h = await Harness.init();
      const externalId = ext("dup");
      const identityId = await create(h, { externalId, ratelimits: [{ name: "requests", limit: 1, duration: 1000 }] });
      const again = await h.post("/v2/identities.createIdentity", {
        externalId,
        meta: { other: true },
        ratelimits: [{ name: "other", limit: 1, duration: 1000 }],
      });
      expect(again.status).toBe(409);
      expect(again.body.error.type).toBe(`${ERR}unkey/data/identity_already_exists`);
      expect(again.body.error.title).toBe("Conflicting Resource");
      // The failed attempt changed nothing.
      const got = await h.post("/v2/identities.getIdentity", { identity: externalId });
      expect(got.body.data).toEqual({
        id: identityId,
        externalId,
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 1, duration: 1000, autoApply: false }],
      });

      const viaKey = ext("viakey");
      await h.createKey({ externalId: viaKey });
      const res = await h.post("/v2/identities.createIdentity", { externalId: viaKey });
      expect(res.status).toBe(409);
      await expect(h.sdk().identities.createIdentity({ externalId: viaKey })).rejects.toBeInstanceOf(errors.ConflictErrorResponse);
    });

    it("400 for a bad externalId, meta, limits or an unknown field", async () => {
      const h = await Harness.init();
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, "body.externalId"],
        [{ externalId: "" }, "body.externalId"],
        [{ externalId: "has space" }, "body.externalId"],
        [{ externalId: "x".repeat(256) }, "body.externalId"],
        [{ externalId: 42 }, "body.externalId"],
        [{ externalId: ext("m"), meta: "text" }, "body.meta"],
        [{ externalId: ext("m"), meta: [1] }, "body.meta"],
        [{ externalId: ext("r"), ratelimits: [{ name: "ab", limit: 1, duration: 1000 }] }, "body.ratelimits[0].name"],
        [{ externalId: ext("r"), ratelimits: [{ name: "abc", limit: 0, duration: 1000 }] }, "body.ratelimits[0].limit"],
        [{ externalId: ext("r"), ratelimits: [{ name: "abc", limit: 1, duration: 999 }] }, "body.ratelimits[0].duration"],
        [{ externalId: ext("r"), ratelimits: [{ name: "abc", limit: 1, duration: 1000, extra: 1 }] }, "body.ratelimits[0].extra"],
        [
          { externalId: ext("r"), ratelimits: [{ name: "abc", limit: 1, duration: 1000 }, { name: "abc", limit: 2, duration: 1000 }] },
          "body.ratelimits[1].name",
        ],
        [
          { externalId: ext("r"), ratelimits: Array.from({ length: 51 }, (_, i) => ({ name: `limit_${i}`, limit: 1, duration: 1000 })) },
          "body.ratelimits",
        ],
        [{ externalId: ext("u"), unknown: true }, "body.unknown"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/identities.createIdentity", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain(location);
      }
      // Exactly 50 distinct limits are fine.
      const fifty = Array.from({ length: 50 }, (_, i) => ({ name: `limit_${i}`, limit: 1, duration: 1000 }));
      await create(h, { externalId: ext("fifty"), ratelimits: fifty });
    });
  });

  describeSecurity({
    operation: "identities.createIdentity",
    setup: async () => ({ body: { externalId: ext("sec") } }),
    grant: () => ["identity.*.create_identity"],
  });
});
