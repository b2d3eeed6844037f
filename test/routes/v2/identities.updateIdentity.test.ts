import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { hashKey } from "../../../src/lib/hash";
import type { VerificationRecord } from "../../../src/lib/record";
import type { IdentitiesUpdateIdentityResponse } from "../../../src/routes/v2/identities.updateIdentity";
import { recordCache } from "../../../src/services/cache";
import { BASE_URL, Harness } from "../../harness";
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

async function update(h: Harness, body: Record<string, unknown>): Promise<IdentitiesUpdateIdentityResponse["data"]> {
  const res = await h.post<IdentitiesUpdateIdentityResponse>("/v2/identities.updateIdentity", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.meta.requestId).toMatch(/^req_/);
  return res.body.data;
}

/** Verifies through an app whose clock stands still at `t`, so window arithmetic is exact. */
function clockedVerify(h: Harness, t: number) {
  const app = createApp({ clock: { now: () => t } });
  return async (key: string): Promise<any> => {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`${BASE_URL}/v2/keys.verifyKey`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${h.rootKey}` },
        body: JSON.stringify({ key }),
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: unknown }).data;
  };
}

function midWindow(duration: number): number {
  return Math.floor(Date.now() / duration) * duration + duration / 2;
}

async function kvEntry(key: string): Promise<{ record?: VerificationRecord } | null> {
  return env.EDGE.get(`key:hash:${await hashKey(key)}`, "json");
}

describe("identities.updateIdentity", () => {
  describe("happy", () => {
    it("replaces meta; null removes it; omitted fields stay unchanged", async () => {
      const h = await Harness.init();
      const externalId = ext("meta");
      const identityId = await create(h, { externalId, meta: { plan: "free" }, ratelimits: [{ name: "requests", limit: 1, duration: 1000 }] });
      const limits = [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 1, duration: 1000, autoApply: false }];

      expect(await update(h, { identity: identityId, meta: { plan: "pro", seats: 2 } })).toEqual({
        id: identityId,
        externalId,
        meta: { plan: "pro", seats: 2 },
        ratelimits: limits,
      });
      expect(await update(h, { identity: externalId })).toEqual({ id: identityId, externalId, meta: { plan: "pro", seats: 2 }, ratelimits: limits });
      expect(await update(h, { identity: externalId, meta: {} })).toEqual({ id: identityId, externalId, meta: {}, ratelimits: limits });
      const cleared = await update(h, { identity: externalId, meta: null });
      expect(cleared).toEqual({ id: identityId, externalId, ratelimits: limits });
      const got = await h.post("/v2/identities.getIdentity", { identity: identityId });
      expect(got.body.data).toEqual(cleared);
    });

    it("a ratelimits list replaces all by name, keeping ids of names that stay; [] clears", async () => {
      const h = await Harness.init();
      const externalId = ext("limits");
      await create(h, {
        externalId,
        meta: { keep: true },
        ratelimits: [
          { name: "requests", limit: 10, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 1000, duration: 1000 },
        ],
      });
      const before = (await h.post("/v2/identities.getIdentity", { identity: externalId })).body.data;
      const requestsId = before.ratelimits.find((r: { name: string }) => r.name === "requests").id;
      const tokensId = before.ratelimits.find((r: { name: string }) => r.name === "tokens").id;

      const after = await update(h, {
        identity: externalId,
        ratelimits: [
          { name: "requests", limit: 20, duration: 30_000, autoApply: false },
          { name: "bursts", limit: 3, duration: 1000, autoApply: true },
        ],
      });
      expect(after.meta).toEqual({ keep: true });
      expect(after.ratelimits).toEqual([
        { id: expect.stringMatching(/^rl_/), name: "bursts", limit: 3, duration: 1000, autoApply: true },
        { id: requestsId, name: "requests", limit: 20, duration: 30_000, autoApply: false },
      ]);
      expect(after.ratelimits?.some((r) => r.id === tokensId)).toBe(false);

      const cleared = await update(h, { identity: externalId, ratelimits: [] });
      expect(cleared).not.toHaveProperty("ratelimits");
      expect(cleared.meta).toEqual({ keep: true });
    });

    it("meta and limit changes reach every key of the identity at once, here and in KV", async () => {
      const h = await Harness.init();
      const externalId = ext("propagate");
      const identityId = await create(h, { externalId, meta: { v: 1 } });
      const a = await h.createKey({ externalId });
      const b = await h.createKey({ externalId, credits: { remaining: 100 } });
      const other = await h.createKey({ externalId: ext("unrelated") });
      // Warm this isolate's cache and KV with the old records.
      for (const k of [a, b, other]) expect((await h.verify(k.key)).valid).toBe(true);

      await update(h, { identity: identityId, meta: { v: 2 }, ratelimits: [{ name: "requests", limit: 100, duration: 60_000, autoApply: true }] });
      const expected = {
        id: identityId,
        externalId,
        meta: { v: 2 },
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 100, duration: 60_000, autoApply: true }],
      };
      for (const k of [a, b]) {
        expect((await h.verify(k.key)).identity).toEqual(expected);
        expect((await kvEntry(k.key))?.record?.identity).toEqual(expected);
        expect((await h.post("/v2/keys.getKey", { keyId: k.keyId })).body.data.identity).toEqual(expected);
        recordCache(5000).clear();
        expect((await h.verify(k.key)).identity).toEqual(expected);
      }
      // Each key of the identity got exactly one new revision; keys of other identities none.
      const revisions = await env.DB.prepare("SELECT id, revision FROM keys WHERE id IN (?, ?, ?)")
        .bind(a.keyId, b.keyId, other.keyId)
        .all<{ id: string; revision: number }>();
      expect(Object.fromEntries(revisions.results.map((r) => [r.id, r.revision]))).toEqual({ [a.keyId]: 1, [b.keyId]: 1, [other.keyId]: 0 });
      expect((await kvEntry(a.key))?.record?.revision).toBe(1);
    });

    it("raising and then removing a shared identity limit takes effect on the next verify", async () => {
      const h = await Harness.init();
      const externalId = ext("shared");
      const duration = 3_600_000;
      const verify = clockedVerify(h, midWindow(duration));
      await create(h, { externalId, ratelimits: [{ name: "requests", limit: 3, duration, autoApply: true }] });
      const a = await h.createKey({ externalId });
      const b = await h.createKey({ externalId });
      const codes = async (keys: string[]) => {
        const out: string[] = [];
        for (const key of keys) out.push((await verify(key)).code);
        return out;
      };
      expect(await codes([a.key, b.key, a.key, b.key])).toEqual(["VALID", "VALID", "VALID", "RATE_LIMITED"]);

      await update(h, { identity: externalId, ratelimits: [{ name: "requests", limit: 5, duration, autoApply: true }] });
      // The window keeps its count (3 used): two more fit under the new limit.
      expect(await codes([b.key, a.key, b.key])).toEqual(["VALID", "VALID", "RATE_LIMITED"]);
      expect((await verify(a.key)).ratelimits).toEqual([
        expect.objectContaining({ name: "requests", limit: 5, remaining: 0, exceeded: true }),
      ]);

      await update(h, { identity: externalId, ratelimits: [] });
      for (const key of [a.key, b.key, a.key]) {
        const data = await verify(key);
        expect(data).toMatchObject({ valid: true, code: "VALID", identity: { externalId } });
        expect(data).not.toHaveProperty("ratelimits");
        expect(data.identity).not.toHaveProperty("ratelimits");
      }
    });

    it("a stale record elsewhere is caught by the key's object, which learned the new revision", async () => {
      const h = await Harness.init();
      const externalId = ext("stale");
      const duration = 3_600_000;
      const verify = clockedVerify(h, midWindow(duration));
      await create(h, { externalId, meta: { v: 1 }, ratelimits: [{ name: "requests", limit: 1000, duration, autoApply: true }] });
      const { key } = await h.createKey({ externalId });
      expect((await verify(key)).identity.meta).toEqual({ v: 1 });
      const old = await kvEntry(key);
      expect(old?.record?.identity?.meta).toEqual({ v: 1 });

      await update(h, { identity: externalId, meta: { v: 2 } });
      // Another region still holds the old record (in KV and its isolate cache is cold).
      await env.EDGE.put(`key:hash:${await hashKey(key)}`, JSON.stringify(old), { expirationTtl: 60 });
      recordCache(5000).clear();
      expect((await verify(key)).identity.meta).toEqual({ v: 2 });
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const externalId = ext("sdk");
      const identityId = await create(h, { externalId, meta: { a: 1 }, ratelimits: [{ name: "requests", limit: 1, duration: 1000 }] });
      const res = await h.sdk().identities.updateIdentity({
        identity: identityId,
        meta: { a: 2 },
        ratelimits: [{ name: "requests", limit: 7, duration: 2000 }],
      });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data).toEqual({
        id: identityId,
        externalId,
        meta: { a: 2 },
        ratelimits: [{ id: expect.stringMatching(/^rl_/), name: "requests", limit: 7, duration: 2000, autoApply: false }],
      });
      const metaOnly = await h.sdk().identities.updateIdentity({ identity: externalId, meta: { a: 3 } });
      expect(metaOnly.data.ratelimits).toHaveLength(1);
      await expect(h.sdk().identities.updateIdentity({ identity: "missing_identity", meta: {} })).rejects.toBeInstanceOf(
        errors.NotFoundErrorResponse,
      );
    });
  });

  describe("errors", () => {
    it("404 for an unknown identity or another workspace's", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const externalId = ext("theirs");
      const foreignId = await create(theirs, { externalId, meta: { owner: "them" } });
      for (const identity of ["id_doesNotExist0000000", foreignId, externalId]) {
        const res = await h.post("/v2/identities.updateIdentity", { identity, meta: { hijacked: true } });
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe(`${ERR}unkey/data/identity_not_found`);
      }
      const untouched = await theirs.post("/v2/identities.getIdentity", { identity: foreignId });
      expect(untouched.body.data).toEqual({ id: foreignId, externalId, meta: { owner: "them" } });
    });

    it("400 for bad meta or limits, or an unknown field; nothing changes", async () => {
      const h = await Harness.init();
      const externalId = ext("bad");
      await create(h, { externalId, ratelimits: [{ name: "requests", limit: 1, duration: 1000 }] });
      const cases: Array<[Record<string, unknown>, string]> = [
        [{}, "body.identity"],
        [{ identity: "" }, "body.identity"],
        [{ identity: externalId, meta: "text" }, "body.meta"],
        [{ identity: externalId, ratelimits: null }, "body.ratelimits"],
        [{ identity: externalId, ratelimits: [{ name: "ab", limit: 1, duration: 1000 }] }, "body.ratelimits[0].name"],
        [{ identity: externalId, ratelimits: [{ name: "abc", limit: 1, duration: 0 }] }, "body.ratelimits[0].duration"],
        [{ identity: externalId, ratelimits: [{ name: "abc", limit: -1, duration: 1000 }] }, "body.ratelimits[0].limit"],
        [
          { identity: externalId, ratelimits: [{ name: "abc", limit: 1, duration: 1000 }, { name: "abc", limit: 1, duration: 1000 }] },
          "body.ratelimits[1].name",
        ],
        [
          { identity: externalId, ratelimits: Array.from({ length: 51 }, (_, i) => ({ name: `limit_${i}`, limit: 1, duration: 1000 })) },
          "body.ratelimits",
        ],
        [{ identity: externalId, externalId: "rename" }, "body.externalId"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/identities.updateIdentity", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain(location);
      }
      const got = await h.post("/v2/identities.getIdentity", { identity: externalId });
      expect(got.body.data.ratelimits).toEqual([expect.objectContaining({ name: "requests", limit: 1 })]);
      expect(got.body.data).not.toHaveProperty("meta");
    });
  });

  describeSecurity({
    operation: "identities.updateIdentity",
    setup: async (h) => ({ body: { identity: await create(h, { externalId: ext("sec") }), meta: { updated: true } } }),
    grant: () => ["identity.*.update_identity"],
    missing: () => ({ identity: "id_doesNotExist0000000", meta: { updated: true } }),
  });
});
