/**
 * Exactness under concurrency, through the Worker's app with real D1, KV and Durable Objects: hundreds of verifies in flight at
 * once against credits, a key limit, an identity limit shared by several keys, and credit changes racing
 * verifies. The counts must be exact: never one VALID too many (no overdraft), never one too few.
 *
 * The bursts call the Worker's app (`createApp()`, exactly what src/index.ts exports as `fetch`) with the
 * real bindings, rather than `exports.default.fetch`: in vitest-pool-workers 0.15 every call through
 * `exports.default.fetch` gets slower the more calls a file has made (300 calls take ~2.5 s, the next 300
 * ~15 s, the next ~50 s), which would make a file of bursts take minutes. Durable Objects, D1 and KV are
 * the same either way.
 *
 * Limits use a one-hour window: a test that happens to cross a window boundary still counts exactly, since
 * at the boundary the previous window weighs in full and would need ~90 s to forget a single request.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { newId } from "../../src/lib/ids";
import type { KeysGetKeyResponse } from "../../src/routes/v2/keys.getKey";
import type { KeysVerifyKeyResponse } from "../../src/routes/v2/keys.verifyKey";
import { BASE_URL, Harness, type Reply } from "../harness";

const HOUR = 3_600_000;

const worker = createApp();

/** A request to the Worker's app, as `h.post` would send it through the exported handler. */
async function call<T = any>(h: Harness, path: string, body: unknown): Promise<Reply<T>> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
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
}

/** Sends every verify at once and tallies the codes (any non-200 counts under `HTTP <status>`). */
async function burst(h: Harness, bodies: Record<string, unknown>[]): Promise<Record<string, number>> {
  const results = await Promise.all(bodies.map((body) => call<KeysVerifyKeyResponse>(h, "/v2/keys.verifyKey", body)));
  const tally: Record<string, number> = {};
  for (const r of results) {
    const code = r.status === 200 ? r.body.data.code : `HTTP ${r.status}`;
    tally[code] = (tally[code] ?? 0) + 1;
  }
  return tally;
}

/** Bursts of hundreds of requests through one shared runtime on two cores can take a while. */
const SLOW = 120_000;

const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

async function credits(h: Harness, keyId: string): Promise<number | null | undefined> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  if (res.status !== 200) throw new Error(`getKey failed: ${JSON.stringify(res.body)}`);
  return res.body.data.credits?.remaining;
}

describe("exact counts under concurrency", () => {
  it("300 concurrent verifies against 50 credits: exactly 50 VALID, and the balance ends at 0", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey({ credits: { remaining: 50 } });
    const tally = await burst(h, times(300, () => ({ key })));
    expect(tally).toEqual({ VALID: 50, USAGE_EXCEEDED: 250 });
    expect(await credits(h, keyId)).toBe(0);
  }, SLOW);

  it("300 concurrent verifies against an autoApply limit of 40 per window: exactly 40 VALID", async () => {
    const h = await Harness.init();
    const { key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 40, duration: HOUR, autoApply: true }] });
    const tally = await burst(h, times(300, () => ({ key })));
    expect(tally).toEqual({ VALID: 40, RATE_LIMITED: 260 });
  }, SLOW);

  it("an identity limit of 30 shared by 3 keys: exactly 30 VALID across all of them", async () => {
    const h = await Harness.init();
    const keys = await Promise.all(times(3, () => h.createKey({ externalId: "concurrent-customer" })));
    const identityId = (await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId: keys[0]!.keyId })).body.data.identity?.id;
    expect(identityId).toMatch(/^id_/);
    await env.DB.prepare(
      'INSERT INTO ratelimits (id, workspace_id, identity_id, name, "limit", duration, auto_apply, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    )
      .bind(newId("rl"), h.workspaceId, identityId, "per-customer", 30, HOUR, 1, Date.now())
      .run();
    expect((await h.post("/v2/apis.listKeys", { apiId: h.apiId, revalidateKeysCache: true })).status).toBe(200);

    const bodies = times(300, (i) => ({ key: keys[i % 3]!.key }));
    const results = await Promise.all(bodies.map((body) => call<KeysVerifyKeyResponse>(h, "/v2/keys.verifyKey", body)));
    const valid = results.filter((r) => r.status === 200 && r.body.data.code === "VALID");
    const limited = results.filter((r) => r.status === 200 && r.body.data.code === "RATE_LIMITED");
    expect(valid).toHaveLength(30);
    expect(limited).toHaveLength(270);
    // The 30 admitted verifies are spread over the keys as they came; all of them counted against one limit.
    for (const r of limited) expect(r.body.data.ratelimits?.[0]).toMatchObject({ name: "per-customer", exceeded: true, remaining: 0 });
  }, SLOW);

  it("credits.cost 7 against 50 credits, 100 at once: exactly 7 VALID, 49 spent, never overdrawn", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey({ credits: { remaining: 50 } });
    const tally = await burst(h, times(100, () => ({ key, credits: { cost: 7 } })));
    expect(tally).toEqual({ VALID: 7, USAGE_EXCEEDED: 93 });
    expect(await credits(h, keyId)).toBe(1);
  }, SLOW);

  it("credits and a limit together: the stricter one wins exactly, and refusals consume nothing", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey({
      credits: { remaining: 100 },
      ratelimits: [{ name: "requests", limit: 30, duration: HOUR, autoApply: true }],
    });
    const tally = await burst(h, times(200, () => ({ key })));
    expect(tally).toEqual({ VALID: 30, RATE_LIMITED: 170 });
    // The rate-limited verifies took no credit.
    expect(await credits(h, keyId)).toBe(70);
  }, SLOW);

  it("concurrent updateCredits increments and verifies: every credit is accounted for exactly", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey({ credits: { remaining: 20 } });
    const verifies = times(150, () => call<KeysVerifyKeyResponse>(h, "/v2/keys.verifyKey", { key }));
    const increments = times(10, () => call(h, "/v2/keys.updateCredits", { keyId, operation: "increment", value: 5 }));
    const [verified, updated] = await Promise.all([Promise.all(verifies), Promise.all(increments)]);
    for (const u of updated) {
      expect(u.status, JSON.stringify(u.body)).toBe(200);
      expect(u.body.data.remaining).toBeGreaterThanOrEqual(5);
    }
    const codes = verified.map((r) => (r.status === 200 ? r.body.data.code : `HTTP ${r.status}`));
    const valid = codes.filter((c) => c === "VALID").length;
    expect(codes.filter((c) => c !== "VALID" && c !== "USAGE_EXCEEDED")).toEqual([]);
    // 20 to start with + 10 × 5 added; each VALID spent exactly one.
    expect(valid).toBeLessThanOrEqual(70);
    expect(valid).toBeGreaterThanOrEqual(20);
    expect(await credits(h, keyId)).toBe(70 - valid);
    // Whatever is left is still spendable to exactly 0.
    const rest = 70 - valid;
    expect(await burst(h, times(rest + 10, () => ({ key })))).toEqual(rest > 0 ? { VALID: rest, USAGE_EXCEEDED: 10 } : { USAGE_EXCEEDED: 10 });
    expect(await credits(h, keyId)).toBe(0);
  }, SLOW);

  describe("verifies racing a stream of mutations", () => {
    /**
     * Mutations bump the key's revision one after another while verifies keep arriving, so many verifies
     * reach the key's object with a record that has just gone stale, reload it, and sometimes find it stale
     * again. Whatever happens, every admitted verify must have gone through the object's decision.
     */
    async function race(h: Harness, key: string, mutate: (i: number) => Promise<Reply>, mutations: number): Promise<number> {
      let done = false;
      const mutator = (async () => {
        try {
          for (let i = 0; i < mutations; i++) {
            const r = await mutate(i);
            if (r.status !== 200) throw new Error(`mutation failed: ${r.status} ${JSON.stringify(r.body)}`);
          }
        } finally {
          done = true;
        }
      })();
      const streams = times(20, async () => {
        let valid = 0;
        while (!done) {
          const r = await call<KeysVerifyKeyResponse>(h, "/v2/keys.verifyKey", { key });
          if (r.status !== 200) throw new Error(`verify failed: ${r.status} ${JSON.stringify(r.body)}`);
          if (r.body.data.code === "VALID") valid++;
        }
        return valid;
      });
      await mutator;
      return (await Promise.all(streams)).reduce((a, b) => a + b, 0);
    }

    it("one-by-one updateCredits increments: VALID verifies + what is left = exactly what was added", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 0 } });
      const valid = await race(h, key, () => call(h, "/v2/keys.updateCredits", { keyId, operation: "increment", value: 1 }), 50);
      const left = await credits(h, keyId);
      expect({ valid, left, total: valid + (left ?? 0) }).toEqual({ valid: 50 - (left ?? 0), left, total: 50 });
    }, SLOW);

    it("one-by-one updateKey changes: a key limit of 10 per window still admits exactly 10", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 10, duration: HOUR, autoApply: true }] });
      const valid = await race(h, key, (i) => call(h, "/v2/keys.updateKey", { keyId, meta: { i } }), 150);
      expect(valid).toBe(10);
    }, SLOW);
  });

  describe("concurrent mutations of one key", () => {
    it("leave its object at the revision D1 committed last, not one stale by the others", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ ratelimits: [{ name: "requests", limit: 1000, duration: HOUR, autoApply: true }] });
      // Every update reads the key at the same revision; each commits its own (1, 2, …, 8).
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => call(h, "/v2/keys.updateKey", { keyId, meta: { i } })));
      expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
      const row = await env.DB.prepare("SELECT revision FROM keys WHERE id = ?").bind(keyId).first<{ revision: number }>();
      expect(row?.revision).toBe(8);
      const stub = env.KEY_STATE.get(env.KEY_STATE.idFromName(`${h.workspaceId}:${keyId}`));
      // observe(0) answers the object's revision without changing it.
      expect((await stub.observe(0)).next).toBe(8);
      expect((await call<KeysVerifyKeyResponse>(h, "/v2/keys.verifyKey", { key })).body.data.code).toBe("VALID");
    });
  });
});
