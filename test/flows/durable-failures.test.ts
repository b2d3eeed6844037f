/**
 * What the Worker answers when a Durable Object call fails or times out (src/services/key-state-client.ts,
 * docs/architecture.md "When a Durable Object fails"): credits fail closed (503, never VALID), rate limits
 * fail open (VALID, without the limits that could not be checked), reads fall back to the D1 mirror, and
 * credit changes refuse (503) without changing anything.
 *
 * Failures are forced with `createApp({ keyState, limiter })`; the keys themselves are created through the
 * normal Worker, so only the calls under test see the failing clients.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp, type CreateAppOptions } from "../../src/app";
import { newId } from "../../src/lib/ids";
import type { KeysGetKeyResponse } from "../../src/routes/v2/keys.getKey";
import type { KeysVerifyKeyResponse } from "../../src/routes/v2/keys.verifyKey";
import { DO_TIMEOUT_MS, DurableKeyStateClient, type KeyStateClient, type LimiterClient } from "../../src/services/key-state-client";
import { Harness, type Reply, appClient } from "../harness";

const HOUR = 3_600_000;
const SERVICE_UNAVAILABLE = "https://unkey.com/docs/errors/unkey/application/service_unavailable";

function appWith(opts: CreateAppOptions) {
  return appClient(opts);
}

/** A key-state client whose object is unreachable: checks and notices fail open, everything else throws. */
function brokenKeyState(calls: string[] = []): KeyStateClient {
  const reject = (what: string) => () => {
    calls.push(what);
    return Promise.reject(new Error(`${what}: object unreachable`));
  };
  return {
    isStale: async () => {
      calls.push("isStale");
      return false;
    },
    bump: async () => {
      calls.push("bump");
    },
    verify: reject("verify"),
    changeCredits: reject("changeCredits"),
    readCredits: reject("readCredits"),
  };
}

function brokenLimiter(calls: string[] = []): LimiterClient {
  return {
    limit: () => {
      calls.push("limit");
      return Promise.reject(new Error("limiter unreachable"));
    },
    refund: async () => {
      calls.push("refund");
    },
  };
}

async function addIdentityLimit(h: Harness, keyId: string, rl: { name: string; limit: number; autoApply: boolean }): Promise<void> {
  const identityId = (await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId })).body.data.identity?.id;
  if (!identityId) throw new Error("key has no identity");
  await env.DB.prepare(
    'INSERT INTO ratelimits (id, workspace_id, identity_id, name, "limit", duration, auto_apply, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
    .bind(newId("rl"), h.workspaceId, identityId, rl.name, rl.limit, HOUR, rl.autoApply ? 1 : 0, Date.now())
    .run();
  const res = await h.post("/v2/apis.listKeys", { apiId: h.apiId, revalidateKeysCache: true });
  if (res.status !== 200) throw new Error(`listKeys failed: ${JSON.stringify(res.body)}`);
}

async function trueCredits(h: Harness, keyId: string): Promise<number | null | undefined> {
  return (await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId })).body.data.credits?.remaining;
}

async function mirror(keyId: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT credits_remaining FROM keys WHERE id = ?").bind(keyId).first<{ credits_remaining: number | null }>();
  if (!row) throw new Error(`no row for ${keyId}`);
  return row.credits_remaining;
}

describe("when a Durable Object fails", () => {
  describe("the key's object (KeyState)", () => {
    it("a key with credits fails closed: HTTP 503 service_unavailable, never VALID, nothing charged", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 5 } });
      const calls: string[] = [];
      const call = appWith({ keyState: () => brokenKeyState(calls) });
      for (const body of [{ key }, { key, credits: { cost: 0 } }, { key, credits: { cost: 3 } }]) {
        const res = await call("/v2/keys.verifyKey", body, h.rootKey);
        expect(res.status, JSON.stringify(res.body)).toBe(503);
        expect(res.body.error).toMatchObject({ status: 503, type: SERVICE_UNAVAILABLE, title: expect.any(String), detail: expect.any(String) });
        expect(res.body.meta.requestId).toMatch(/^req_/);
        expect(res.body).not.toHaveProperty("data");
      }
      expect(calls.filter((c) => c === "verify")).toHaveLength(3);
      // The object was never reached, so the balance is untouched.
      expect(await trueCredits(h, keyId)).toBe(5);
      expect((await h.verify(key)).credits).toBe(4);
    });

    it("a key with credits and limits fails closed too", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({
        credits: { remaining: 5 },
        ratelimits: [{ name: "requests", limit: 100, duration: HOUR, autoApply: true }],
      });
      const call = appWith({ keyState: () => brokenKeyState() });
      const res = await call("/v2/keys.verifyKey", { key }, h.rootKey);
      expect(res.status).toBe(503);
      expect(res.body.error.type).toBe(SERVICE_UNAVAILABLE);
    });

    it("a key with limits only fails open: VALID, without ratelimits entries, beyond the limit", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 1, duration: HOUR, autoApply: true }] });
      const call = appWith({ keyState: () => brokenKeyState() });
      for (let i = 0; i < 3; i++) {
        const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key }, h.rootKey);
        expect(res.status).toBe(200);
        expect(res.body.data).toMatchObject({ valid: true, code: "VALID", keyId });
        expect(res.body.data.ratelimits ?? []).toEqual([]);
      }
      // Nothing was consumed in the real object meanwhile: the limit still has its one request.
      expect((await h.verify(key)).code).toBe("VALID");
      expect((await h.verify(key)).code).toBe("RATE_LIMITED");
    });

    it("an ad-hoc limit named in the request fails open as well", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const call = appWith({ keyState: () => brokenKeyState() });
      const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key, ratelimits: [{ name: "adhoc", limit: 1, duration: HOUR }] }, h.rootKey);
      expect(res.status).toBe(200);
      expect(res.body.data.code).toBe("VALID");
    });

    it("the identity's tokens are given back when the key's object fails a credits key", async () => {
      const h = await Harness.init();
      const paid = await h.createKey({ externalId: "refund-on-failure", credits: { remaining: 5 } });
      const other = await h.createKey({ externalId: "refund-on-failure" });
      await addIdentityLimit(h, paid.keyId, { name: "per-user", limit: 2, autoApply: true });
      const call = appWith({ keyState: () => brokenKeyState() });
      for (let i = 0; i < 4; i++) expect((await call("/v2/keys.verifyKey", { key: paid.key }, h.rootKey)).status).toBe(503);
      // The four refused verifies hold no identity tokens: the other key still has both.
      const first = await h.post<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key: other.key });
      expect(first.body.data.code).toBe("VALID");
      expect(first.body.data.ratelimits).toEqual([expect.objectContaining({ name: "per-user", remaining: 1 })]);
    });

    it("a verify that never returns times out after DO_TIMEOUT_MS and fails closed", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 5 } });
      const hung = vi.fn(() => new Promise<never>(() => {}));
      const ns = { idFromName: (name: string) => name, get: () => ({ verify: hung, observe: hung, readCredits: hung, changeCredits: hung }) };
      const call = appWith({ keyState: () => new DurableKeyStateClient(ns as unknown as Env["KEY_STATE"]) });
      const res = await call("/v2/keys.verifyKey", { key }, h.rootKey);
      expect(res.status).toBe(503);
      expect(res.body.error.type).toBe(SERVICE_UNAVAILABLE);
      expect(hung).toHaveBeenCalledTimes(1);
      expect(DO_TIMEOUT_MS).toBeLessThanOrEqual(3_000);
      expect(await trueCredits(h, keyId)).toBe(5);
    }, 30_000);

    it("a key without limits or credits is unaffected (its verify never calls the object)", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const calls: string[] = [];
      const call = appWith({ keyState: () => brokenKeyState(calls), limiter: () => brokenLimiter(calls) });
      const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key }, h.rootKey);
      expect(res.body.data.code).toBe("VALID");
      expect(calls).toEqual([]);
    });
  });

  describe("the identity's limiter (RateLimiter)", () => {
    it("fails open: VALID without the identity's limits; the key's own limit still applies", async () => {
      const h = await Harness.init();
      const a = await h.createKey({ externalId: "limiter-down", ratelimits: [{ name: "per-key", limit: 2, duration: HOUR, autoApply: true }] });
      const b = await h.createKey({ externalId: "limiter-down" });
      await addIdentityLimit(h, a.keyId, { name: "per-user", limit: 1, autoApply: true });
      const calls: string[] = [];
      const call = appWith({ limiter: () => brokenLimiter(calls) });

      const codesA: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key: a.key }, h.rootKey);
        expect(res.status).toBe(200);
        codesA.push(res.body.data.code);
        expect(res.body.data.ratelimits?.map((r) => r.name)).toEqual(["per-key"]);
      }
      expect(codesA).toEqual(["VALID", "VALID", "RATE_LIMITED"]);
      for (let i = 0; i < 3; i++) {
        const res = await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key: b.key }, h.rootKey);
        expect(res.body.data.code).toBe("VALID");
        expect(res.body.data.ratelimits ?? []).toEqual([]);
      }
      expect(calls.filter((c) => c === "limit").length).toBeGreaterThanOrEqual(6);
      // The refused verify of `a` gives nothing back to a limiter it never consumed from.
      expect(calls).not.toContain("refund");
    });

    it("fails open for a credits key too, which is still charged exactly once per verify", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ externalId: "limiter-down-paid", credits: { remaining: 3 } });
      await addIdentityLimit(h, keyId, { name: "per-user", limit: 1, autoApply: true });
      const call = appWith({ limiter: () => brokenLimiter() });
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) codes.push((await call<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key }, h.rootKey)).body.data.code);
      expect(codes).toEqual(["VALID", "VALID", "VALID", "USAGE_EXCEEDED"]);
      expect(await trueCredits(h, keyId)).toBe(0);
    });
  });

  describe("reads and credit changes", () => {
    it("getKey falls back to the D1 mirror when the object cannot answer", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 7, refill: { interval: "daily", amount: 7 } } });
      const call = appWith({ keyState: () => brokenKeyState() });
      const res = await call<KeysGetKeyResponse>("/v2/keys.getKey", { keyId }, h.rootKey);
      expect(res.status).toBe(200);
      expect(res.body.data.credits).toEqual({ remaining: 7, refill: { interval: "daily", amount: 7 } });
    });

    it("updateCredits answers 503 and changes nothing", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 5 } });
      const call = appWith({ keyState: () => brokenKeyState() });
      for (const body of [
        { keyId, operation: "set", value: 100 },
        { keyId, operation: "set", value: null },
        { keyId, operation: "increment", value: 10 },
        { keyId, operation: "decrement", value: 1 },
      ]) {
        const res = await call("/v2/keys.updateCredits", body, h.rootKey);
        expect(res.status, JSON.stringify(body)).toBe(503);
        expect(res.body.error.type).toBe(SERVICE_UNAVAILABLE);
      }
      expect(await mirror(keyId)).toBe(5);
      expect(await trueCredits(h, keyId)).toBe(5);
      expect((await h.verify(key)).credits).toBe(4);
    });

    it("updateKey with credits answers 503 and changes nothing, not even the other fields", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ name: "before", credits: { remaining: 5 } });
      const call = appWith({ keyState: () => brokenKeyState() });
      const res = await call("/v2/keys.updateKey", { keyId, name: "after", credits: { remaining: 50 } }, h.rootKey);
      expect(res.status).toBe(503);
      expect(res.body.error.type).toBe(SERVICE_UNAVAILABLE);
      const key = (await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId })).body.data;
      expect(key.name).toBe("before");
      expect(key.credits?.remaining).toBe(5);
      expect(await mirror(keyId)).toBe(5);
    });
  });
});
