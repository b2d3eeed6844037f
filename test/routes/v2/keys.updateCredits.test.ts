import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import type { KeysUpdateCreditsResponse } from "../../../src/routes/v2/keys.updateCredits";
import { BASE_URL, Harness, type Reply } from "../../harness";
import { describeSecurity } from "../../security";

const INVALID_INPUT = "https://unkey.com/docs/errors/unkey/application/invalid_input";
const KEY_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/key_not_found";
const DAY = 86_400_000;
const HOUR = 3_600_000;

async function updateCredits(h: Harness, body: Record<string, unknown>): Promise<KeysUpdateCreditsResponse["data"]> {
  const res = await h.post<KeysUpdateCreditsResponse>("/v2/keys.updateCredits", body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.meta.requestId).toMatch(/^req_/);
  return res.body.data;
}

async function getCredits(h: Harness, keyId: string): Promise<KeysGetKeyResponse["data"]["credits"]> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status).toBe(200);
  return res.body.data.credits;
}

async function mirror(keyId: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT credits_remaining FROM keys WHERE id = ?").bind(keyId).first<{ credits_remaining: number | null }>();
  return row?.credits_remaining ?? null;
}

/** The Worker with a clock the test moves (for refills); create, update and read all go through it. */
function clocked(h: Harness, start: number) {
  let now = start;
  const app = createApp({ clock: { now: () => now } });
  return async function at<T = any>(t: number, path: string, body: Record<string, unknown>): Promise<Reply<T>> {
    now = t;
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
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  };
}

describe("keys.updateCredits", () => {
  describe("happy", () => {
    it("set, increment and decrement answer {remaining}; getKey and verify agree at once", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 10 } });
      const res = await h.post<KeysUpdateCreditsResponse>("/v2/keys.updateCredits", { keyId, operation: "set", value: 3 });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: { remaining: 3 } });
      expect(await updateCredits(h, { keyId, operation: "increment", value: 4 })).toEqual({ remaining: 7 });
      expect(await updateCredits(h, { keyId, operation: "decrement", value: 2 })).toEqual({ remaining: 5 });
      expect(await updateCredits(h, { keyId, operation: "increment", value: 0 })).toEqual({ remaining: 5 });
      expect(await getCredits(h, keyId)).toEqual({ remaining: 5 });
      expect(await mirror(keyId)).toBe(5);
      expect(await h.verify(key)).toMatchObject({ valid: true, credits: 4 });
    });

    it("decrement floors at 0, and the key is then USAGE_EXCEEDED", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 3 } });
      expect(await updateCredits(h, { keyId, operation: "decrement", value: 100 })).toEqual({ remaining: 0 });
      expect(await getCredits(h, keyId)).toEqual({ remaining: 0 });
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "USAGE_EXCEEDED" });
      expect(await updateCredits(h, { keyId, operation: "increment", value: 1 })).toEqual({ remaining: 1 });
      expect(await h.verify(key)).toMatchObject({ valid: true, credits: 0 });
    });

    it("set null makes the key unlimited and removes the refill; set with a number limits it again", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 1, refill: { interval: "daily", amount: 5 } } });
      expect(await h.verify(key)).toMatchObject({ valid: true, credits: 0 });
      expect(await updateCredits(h, { keyId, operation: "set", value: null })).toEqual({ remaining: null });
      expect(await getCredits(h, keyId)).toBeUndefined();
      expect(await mirror(keyId)).toBeNull();
      for (let i = 0; i < 3; i++) {
        const res = await h.verify(key);
        expect(res.code).toBe("VALID");
        expect(res).not.toHaveProperty("credits");
      }
      // The refill is gone for good: a new balance has none.
      expect(await updateCredits(h, { keyId, operation: "set", value: 2 })).toEqual({ remaining: 2 });
      expect(await getCredits(h, keyId)).toEqual({ remaining: 2 });
      expect((await h.verify(key)).credits).toBe(1);
      expect((await h.verify(key)).credits).toBe(0);
      expect((await h.verify(key)).code).toBe("USAGE_EXCEEDED");
    });

    it("set on a key that never had credits gives it a balance", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      expect((await h.verify(key)).code).toBe("VALID"); // warms this isolate's cache with the unlimited record
      expect(await updateCredits(h, { keyId, operation: "set", value: 1 })).toEqual({ remaining: 1 });
      expect(await h.verify(key)).toMatchObject({ valid: true, credits: 0 });
      expect((await h.verify(key)).code).toBe("USAGE_EXCEEDED");
    });

    it("keeps the refill and reports it in the response", async () => {
      const h = await Harness.init();
      const refill = { interval: "monthly", amount: 100, refillDay: 31 };
      const { keyId } = await h.createKey({ credits: { remaining: 10, refill } });
      expect(await updateCredits(h, { keyId, operation: "set", value: 3 })).toEqual({ remaining: 3, refill });
      expect(await updateCredits(h, { keyId, operation: "increment", value: 2 })).toEqual({ remaining: 5, refill });
      expect(await getCredits(h, keyId)).toEqual({ remaining: 5, refill });
    });

    it("works from the true balance in the key's object, not the lagging D1 mirror", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 10 } });
      for (let i = 0; i < 4; i++) expect((await h.verify(key)).code).toBe("VALID");
      // getKey reports the object's balance right away.
      expect(await getCredits(h, keyId)).toEqual({ remaining: 6 });
      expect(await updateCredits(h, { keyId, operation: "increment", value: 5 })).toEqual({ remaining: 11 });
      expect(await updateCredits(h, { keyId, operation: "decrement", value: 1 })).toEqual({ remaining: 10 });
      expect(await getCredits(h, keyId)).toEqual({ remaining: 10 });
      expect(await mirror(keyId)).toBe(10);
      expect((await h.verify(key)).credits).toBe(9);
      expect(await getCredits(h, keyId)).toEqual({ remaining: 9 });
    });

    it("concurrent increments all count", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 0 } });
      const results = await Promise.all(
        Array.from({ length: 20 }, () => h.post<KeysUpdateCreditsResponse>("/v2/keys.updateCredits", { keyId, operation: "increment", value: 1 })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      // Each increment saw a different balance: they ran one after another in the key's object.
      expect(results.map((r) => r.body.data.remaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await getCredits(h, keyId)).toEqual({ remaining: 20 });
    });

    it("a refill that fell due is applied before an increment; a set counts from now (injected clock)", async () => {
      const h = await Harness.init();
      const day = (Math.floor(Date.now() / DAY) + 3) * DAY;
      const at = clocked(h, day + 10 * HOUR);
      const created = await at(day + 10 * HOUR, "/v2/keys.createKey", {
        apiId: h.apiId,
        credits: { remaining: 0, refill: { interval: "daily", amount: 10 } },
      });
      expect(created.status).toBe(200);
      const { keyId } = created.body.data;
      const refill = { interval: "daily", amount: 10 };
      // Same day: nothing due yet.
      expect((await at(day + 11 * HOUR, "/v2/keys.updateCredits", { keyId, operation: "increment", value: 1 })).body.data).toEqual({ remaining: 1, refill });
      // Next day: refilled to 10 first, then + 5.
      expect((await at(day + DAY + HOUR, "/v2/keys.updateCredits", { keyId, operation: "increment", value: 5 })).body.data).toEqual({ remaining: 15, refill });
      // A set later that day is the balance until the next midnight.
      expect((await at(day + DAY + 2 * HOUR, "/v2/keys.updateCredits", { keyId, operation: "set", value: 2 })).body.data).toEqual({ remaining: 2, refill });
      expect((await at(day + 2 * DAY - 1, "/v2/keys.getKey", { keyId })).body.data.credits).toEqual({ remaining: 2, refill });
      expect((await at(day + 2 * DAY, "/v2/keys.getKey", { keyId })).body.data.credits).toEqual({ remaining: 10, refill });
    });

    it("through Unkey's SDK", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10, refill: { interval: "daily", amount: 10 } } });
      const unkey = h.sdk();
      const inc = await unkey.keys.updateCredits({ keyId, operation: "increment", value: 5 });
      expect(inc.meta.requestId).toMatch(/^req_/);
      expect(inc.data).toEqual({ remaining: 15, refill: { interval: "daily", amount: 10 } });
      expect((await unkey.keys.updateCredits({ keyId, operation: "decrement", value: 20 })).data.remaining).toBe(0);
      expect((await unkey.keys.updateCredits({ keyId, operation: "set", value: null })).data).toEqual({ remaining: null });
      expect((await unkey.keys.getKey({ keyId })).data.credits).toBeUndefined();
      await expect(unkey.keys.updateCredits({ keyId, operation: "increment", value: 1 })).rejects.toMatchObject({ statusCode: 400 });
    });
  });

  describe("errors", () => {
    it("400 for increment or decrement on an unlimited key, which stays unlimited", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      for (const operation of ["increment", "decrement"]) {
        const res = await h.post("/v2/keys.updateCredits", { keyId, operation, value: 5 });
        expect(res.status, operation).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
      expect(await getCredits(h, keyId)).toBeUndefined();
      expect(await h.verify(key)).not.toHaveProperty("credits");
    });

    it("400 with body.value when increment or decrement has no value", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 5 } });
      for (const body of [
        { keyId, operation: "increment" },
        { keyId, operation: "decrement" },
        { keyId, operation: "increment", value: null },
        { keyId, operation: "decrement", value: null },
      ]) {
        const res = await h.post("/v2/keys.updateCredits", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        expect(res.body.error.errors).toEqual(expect.arrayContaining([expect.objectContaining({ location: "body.value" })]));
      }
      expect(await getCredits(h, keyId)).toEqual({ remaining: 5 });
    });

    it("400 for bad values, operations, ids and unknown fields; nothing changes", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 5 } });
      const cases: [Record<string, unknown>, string][] = [
        [{ keyId, operation: "set", value: -1 }, "body.value"],
        [{ keyId, operation: "increment", value: 1.5 }, "body.value"],
        [{ keyId, operation: "increment", value: "5" }, "body.value"],
        [{ keyId, operation: "increment", value: Number.MAX_SAFE_INTEGER + 2 }, "body.value"],
        [{ keyId, operation: "multiply", value: 2 }, "body.operation"],
        [{ keyId, value: 2 }, "body.operation"],
        [{ operation: "set", value: 2 }, "body.keyId"],
        [{ keyId: "ab", operation: "set", value: 2 }, "body.keyId"],
        [{ keyId, operation: "set", value: 2, extra: true }, "body.extra"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/keys.updateCredits", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(INVALID_INPUT);
        const locations = res.body.error.errors.map((e: { location: string }) => e.location);
        expect(locations, JSON.stringify(body)).toContain(location);
      }
      expect(await getCredits(h, keyId)).toEqual({ remaining: 5 });
    });

    it("404 key_not_found for a missing, deleted or other-workspace key", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/keys.updateCredits", { keyId: "key_doesNotExist0000000", operation: "set", value: 1 });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe(KEY_NOT_FOUND);
      const { keyId } = await h.createKey({ credits: { remaining: 5 } });
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      const deleted = await h.post("/v2/keys.updateCredits", { keyId, operation: "increment", value: 1 });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe(KEY_NOT_FOUND);
      const other = await Harness.init();
      const theirs = await other.createKey({ credits: { remaining: 5 } });
      const foreign = await h.post("/v2/keys.updateCredits", { keyId: theirs.keyId, operation: "set", value: 1000 });
      expect(foreign.status).toBe(404);
      expect(await getCredits(other, theirs.keyId)).toEqual({ remaining: 5 });
    });
  });

  describeSecurity({
    operation: "keys.updateCredits",
    setup: async (h) => ({ body: { keyId: (await h.createKey({ credits: { remaining: 5 } })).keyId, operation: "increment", value: 1 }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.update_key`],
    missing: () => ({ keyId: "key_doesNotExist0000000", operation: "increment", value: 1 }),
  });
});
