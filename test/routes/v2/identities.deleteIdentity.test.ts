import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { hashKey } from "../../../src/lib/hash";
import type { VerificationRecord } from "../../../src/lib/record";
import type { IdentitiesDeleteIdentityResponse } from "../../../src/routes/v2/identities.deleteIdentity";
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

async function remove(h: Harness, identity: string): Promise<void> {
  const res = await h.post<IdentitiesDeleteIdentityResponse>("/v2/identities.deleteIdentity", { identity });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(Object.keys(res.body)).toEqual(["meta"]);
  expect(res.body.meta.requestId).toMatch(/^req_/);
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

async function kvRecord(key: string): Promise<VerificationRecord | undefined> {
  return (await env.EDGE.get<{ record?: VerificationRecord }>(`key:hash:${await hashKey(key)}`, "json"))?.record;
}

describe("identities.deleteIdentity", () => {
  describe("happy", () => {
    it("removes the identity and its limits; found neither by id nor by externalId", async () => {
      const h = await Harness.init();
      const externalId = ext("gone");
      const identityId = await create(h, { externalId, meta: { a: 1 }, ratelimits: [{ name: "requests", limit: 1, duration: 1000 }] });
      await remove(h, externalId);
      for (const identity of [identityId, externalId]) {
        const res = await h.post("/v2/identities.getIdentity", { identity });
        expect(res.status).toBe(404);
      }
      const listed = await h.post("/v2/identities.listIdentities", {});
      expect(listed.body.data.map((i: { id: string }) => i.id)).not.toContain(identityId);
      const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM ratelimits WHERE identity_id = ?").bind(identityId).first<{ n: number }>();
      expect(rows?.n).toBe(0);
      // The externalId is free again, and a new identity starts without the old limits.
      const again = await create(h, { externalId });
      expect(again).not.toBe(identityId);
      expect((await h.post("/v2/identities.getIdentity", { identity: externalId })).body.data).toEqual({ id: again, externalId });
    });

    it("keys stay and verify VALID without the identity or its limits, at once and from KV", async () => {
      const h = await Harness.init();
      const externalId = ext("shared");
      const duration = 3_600_000;
      const verify = clockedVerify(h, midWindow(duration));
      await create(h, { externalId, meta: { plan: "pro" }, ratelimits: [{ name: "requests", limit: 3, duration, autoApply: true }] });
      const a = await h.createKey({ externalId });
      const b = await h.createKey({ externalId, ratelimits: [{ name: "own", limit: 100, duration, autoApply: true }] });
      const codes: string[] = [];
      for (const key of [a.key, b.key, a.key, b.key]) codes.push((await verify(key)).code);
      expect(codes).toEqual(["VALID", "VALID", "VALID", "RATE_LIMITED"]);

      await remove(h, externalId);
      for (const k of [a, b, a, b]) {
        const data = await verify(k.key);
        expect(data).toMatchObject({ valid: true, code: "VALID", keyId: k.keyId });
        expect(data).not.toHaveProperty("identity");
      }
      expect((await verify(b.key)).ratelimits).toEqual([expect.objectContaining({ name: "own" })]);
      for (const k of [a, b]) {
        expect(await kvRecord(k.key)).not.toHaveProperty("identity");
        const got = await h.post("/v2/keys.getKey", { keyId: k.keyId });
        expect(got.status).toBe(200);
        expect(got.body.data).not.toHaveProperty("identity");
        recordCache(5000).clear();
        expect(await verify(k.key)).not.toHaveProperty("identity");
      }
      // A new identity with the same externalId does not inherit the old keys.
      const fresh = await create(h, { externalId });
      expect((await h.post("/v2/keys.getKey", { keyId: a.keyId })).body.data).not.toHaveProperty("identity");
      const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId, externalId });
      expect(listed.body.data).toEqual([]);
      expect(fresh).toMatch(/^id_/);
    });

    it("a stale record elsewhere is caught by the key's object, which learned the new revision", async () => {
      const h = await Harness.init();
      const externalId = ext("stale");
      const duration = 3_600_000;
      const verify = clockedVerify(h, midWindow(duration));
      await create(h, { externalId, ratelimits: [{ name: "requests", limit: 1000, duration, autoApply: true }] });
      const { key } = await h.createKey({ externalId });
      expect((await verify(key)).identity.externalId).toBe(externalId);
      const old = await env.EDGE.get(`key:hash:${await hashKey(key)}`, "json");
      expect(old).toMatchObject({ record: { identity: { externalId } } });

      await remove(h, externalId);
      await env.EDGE.put(`key:hash:${await hashKey(key)}`, JSON.stringify(old), { expirationTtl: 60 });
      recordCache(5000).clear();
      const data = await verify(key);
      expect(data).toMatchObject({ valid: true, code: "VALID" });
      expect(data).not.toHaveProperty("identity");
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const externalId = ext("sdk");
      const identityId = await create(h, { externalId });
      const { keyId } = await h.createKey({ externalId });
      const res = await h.sdk().identities.deleteIdentity({ identity: identityId });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect((await h.sdk().keys.getKey({ keyId })).data.identity).toBeUndefined();
      // The SDK types this operation's errors only for `application/problem+json` (while it sends
      // `Accept: application/json`), so a 404 arrives as its generic error carrying status and body.
      const again = await h.sdk().identities.deleteIdentity({ identity: identityId }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(errors.UnkeyError);
      expect((again as errors.UnkeyError).statusCode).toBe(404);
      expect(JSON.parse((again as errors.UnkeyError).body).error.type).toBe(`${ERR}unkey/data/identity_not_found`);
    });
  });

  describe("errors", () => {
    it("404 for an unknown, already deleted, or another workspace's identity, which stays intact", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const externalId = ext("theirs");
      const foreignId = await create(theirs, { externalId });
      const { key } = await theirs.createKey({ externalId });
      for (const identity of ["id_doesNotExist0000000", foreignId, externalId]) {
        const res = await h.post("/v2/identities.deleteIdentity", { identity });
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe(`${ERR}unkey/data/identity_not_found`);
      }
      expect((await theirs.post("/v2/identities.getIdentity", { identity: foreignId })).status).toBe(200);
      expect((await theirs.verify(key)).identity).toMatchObject({ id: foreignId });

      const mine = await create(h, { externalId: ext("twice") });
      await remove(h, mine);
      expect((await h.post("/v2/identities.deleteIdentity", { identity: mine })).status).toBe(404);
    });

    it("400 for a missing or bad identity, or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{}, { identity: "" }, { identity: null }, { identity: "x".repeat(256) }, { identity: "abc", permanent: true }]) {
        const res = await h.post("/v2/identities.deleteIdentity", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
      }
    });
  });

  describeSecurity({
    operation: "identities.deleteIdentity",
    setup: async (h) => ({ body: { identity: await create(h, { externalId: ext("sec") }) } }),
    grant: () => ["identity.*.delete_identity"],
    missing: () => ({ identity: "id_doesNotExist0000000" }),
  });
});
