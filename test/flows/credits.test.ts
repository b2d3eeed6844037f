/**
 * Credits through keys.verifyKey: counting down by `cost` with no overdraft, peeks, interaction with rate
 * limits, and daily/monthly refills driven by an injected clock (`createApp({ clock })`), never by sleeps.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { KeysGetKeyResponse } from "../../src/routes/v2/keys.getKey";
import type { KeysVerifyKeyResponse } from "../../src/routes/v2/keys.verifyKey";
import { BASE_URL, Harness, type Reply } from "../harness";

const DAY = 86_400_000;
const HOUR = 3_600_000;

type VerifyData = KeysVerifyKeyResponse["data"];

async function verify(h: Harness, body: Record<string, unknown>): Promise<VerifyData> {
  const res = await h.post<KeysVerifyKeyResponse>("/v2/keys.verifyKey", body);
  if (res.status !== 200) throw new Error(`verifyKey failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function remaining(h: Harness, keyId: string): Promise<number | null | undefined> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  return res.body.data.credits?.remaining;
}

/**
 * A Worker app whose clock the test moves. Everything about a key under test (create, verify, getKey) goes
 * through it, so the isolate cache, the key's creation time and its object all see the same time.
 */
function clocked(h: Harness, start: number) {
  let now = start;
  const app = createApp({ clock: { now: () => now } });
  async function post<T = any>(path: string, body: unknown): Promise<Reply<T>> {
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
  }
  return {
    set(t: number) {
      now = t;
    },
    post,
    async createKey(body: Record<string, unknown>): Promise<{ keyId: string; key: string }> {
      const res = await post("/v2/keys.createKey", { apiId: h.apiId, ...body });
      if (res.status !== 200) throw new Error(`createKey failed: ${JSON.stringify(res.body)}`);
      return res.body.data;
    },
    async verifyAt(t: number, key: string, extra: Record<string, unknown> = {}): Promise<VerifyData> {
      now = t;
      const res = await post<KeysVerifyKeyResponse>("/v2/keys.verifyKey", { key, ...extra });
      if (res.status !== 200) throw new Error(`verifyKey failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.data;
    },
    async creditsAt(t: number, keyId: string) {
      now = t;
      return (await post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId })).body.data.credits;
    },
  };
}

/** UTC midnight `days` days after today's (always in the future for days ≥ 1). */
function midnightIn(days: number): number {
  return (Math.floor(Date.now() / DAY) + days) * DAY;
}

describe("credits in verifyKey", () => {
  describe("spending", () => {
    it("counts down by 1 per verify, then USAGE_EXCEEDED without going below 0", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 3 } });
      const seen: [string, boolean, number | undefined][] = [];
      for (let i = 0; i < 5; i++) {
        const res = await verify(h, { key });
        seen.push([res.code, res.valid, res.credits]);
      }
      expect(seen).toEqual([
        ["VALID", true, 2],
        ["VALID", true, 1],
        ["VALID", true, 0],
        ["USAGE_EXCEEDED", false, 0],
        ["USAGE_EXCEEDED", false, 0],
      ]);
      expect(await remaining(h, keyId)).toBe(0);
    });

    it("credits.cost spends that many; a cost above the balance is USAGE_EXCEEDED and charges nothing", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 10 } });
      expect(await verify(h, { key, credits: { cost: 4 } })).toMatchObject({ valid: true, code: "VALID", credits: 6 });
      const tooMuch = await verify(h, { key, credits: { cost: 7 } });
      expect(tooMuch).toMatchObject({ valid: false, code: "USAGE_EXCEEDED", keyId });
      expect(await remaining(h, keyId)).toBe(6);
      expect(await verify(h, { key, credits: { cost: 6 } })).toMatchObject({ valid: true, credits: 0 });
      expect(await remaining(h, keyId)).toBe(0);
    });

    it("credits.cost 0 passes on an empty balance and charges nothing", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 1 } });
      expect((await verify(h, { key, credits: { cost: 0 } })).credits).toBe(1);
      expect((await verify(h, { key })).code).toBe("VALID");
      expect((await verify(h, { key })).code).toBe("USAGE_EXCEEDED");
      const peek = await verify(h, { key, credits: { cost: 0 } });
      expect(peek).toMatchObject({ valid: true, code: "VALID", credits: 0 });
      expect(await remaining(h, keyId)).toBe(0);
    });

    it("a key without credits is unlimited whatever the cost, and carries no credits field", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      for (const cost of [1, 1000, 1e12]) {
        const res = await verify(h, { key, credits: { cost } });
        expect(res.code).toBe("VALID");
        expect(res).not.toHaveProperty("credits");
      }
    });

    it("400 for a negative, fractional, too large or non-numeric cost, and nothing is charged", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: 5 } });
      for (const credits of [{ cost: -1 }, { cost: 1.5 }, { cost: 1e12 + 1 }, { cost: "1" }, {}, { cost: 1, extra: true }, 5]) {
        const res = await h.post("/v2/keys.verifyKey", { key, credits });
        expect(res.status, JSON.stringify(credits)).toBe(400);
        expect(res.body.error.errors[0].location).toMatch(/^body\.credits/);
      }
      expect(await remaining(h, keyId)).toBe(5);
    });

    it("the SDK spends credits with credits.cost", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ credits: { remaining: 10 } });
      const unkey = h.sdk();
      expect((await unkey.keys.verifyKey({ key, credits: { cost: 3 } })).data).toMatchObject({ valid: true, credits: 7 });
      expect((await unkey.keys.verifyKey({ key, credits: { cost: 8 } })).data).toMatchObject({ valid: false, code: "USAGE_EXCEEDED" });
    });
  });

  describe("with rate limits", () => {
    it("USAGE_EXCEEDED takes no rate-limit token; RATE_LIMITED takes no credit", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        credits: { remaining: 2 },
        ratelimits: [{ name: "requests", limit: 3, duration: HOUR, autoApply: true }],
      });
      const tooExpensive = await verify(h, { key, credits: { cost: 3 } });
      expect(tooExpensive.code).toBe("USAGE_EXCEEDED");
      expect(tooExpensive.ratelimits?.[0]).toMatchObject({ name: "requests", exceeded: false, remaining: 3 });
      const ok = await verify(h, { key });
      expect(ok).toMatchObject({ code: "VALID", credits: 1 });
      expect(ok.ratelimits?.[0]).toMatchObject({ remaining: 2 });
      // Exhaust the limit with free verifies, then a paid one is RATE_LIMITED and costs nothing.
      expect((await verify(h, { key, credits: { cost: 0 } })).code).toBe("VALID");
      expect((await verify(h, { key, credits: { cost: 0 } })).code).toBe("VALID");
      expect((await verify(h, { key })).code).toBe("RATE_LIMITED");
      expect(await remaining(h, keyId)).toBe(1);
    });

    it("a RATE_LIMITED answer reports the true balance, not the lagging D1 mirror", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        credits: { remaining: 10 },
        ratelimits: [{ name: "requests", limit: 2, duration: HOUR, autoApply: true }],
      });
      expect((await verify(h, { key })).credits).toBe(9);
      expect((await verify(h, { key })).credits).toBe(8);
      const limited = await verify(h, { key });
      expect(limited.code).toBe("RATE_LIMITED");
      expect(await remaining(h, keyId)).toBe(8);
      // The response may omit credits, but if it reports a balance it must be the real one (8), not the
      // record's D1 mirror (10), which only catches up when the object's alarm runs.
      if (limited.credits !== undefined) expect(limited.credits).toBe(8);
    });
  });

  describe("refills (injected clock)", () => {
    it("daily: resets to amount at the next UTC midnight, not before", async () => {
      const h = await Harness.init();
      const day = midnightIn(3);
      const c = clocked(h, day + 10 * HOUR);
      const { keyId, key } = await c.createKey({ credits: { remaining: 2, refill: { interval: "daily", amount: 5 } } });
      expect((await c.verifyAt(day + 11 * HOUR, key)).credits).toBe(1);
      expect((await c.verifyAt(day + 12 * HOUR, key)).credits).toBe(0);
      expect((await c.verifyAt(day + 23 * HOUR, key)).code).toBe("USAGE_EXCEEDED");
      expect((await c.verifyAt(day + DAY - 1, key)).code).toBe("USAGE_EXCEEDED");
      expect(await c.creditsAt(day + DAY - 1, keyId)).toEqual({ remaining: 0, refill: { interval: "daily", amount: 5 } });
      // getKey reports the refill as soon as it is due, before any verify.
      expect(await c.creditsAt(day + DAY, keyId)).toEqual({ remaining: 5, refill: { interval: "daily", amount: 5 } });
      expect(await c.verifyAt(day + DAY, key)).toMatchObject({ valid: true, credits: 4 });
      // Once per day: later the same day, no second refill.
      for (let i = 0; i < 4; i++) await c.verifyAt(day + DAY + HOUR, key);
      expect((await c.verifyAt(day + 2 * DAY - 1, key)).code).toBe("USAGE_EXCEEDED");
      // Several missed days are one refill, to amount.
      expect(await c.verifyAt(day + 9 * DAY + HOUR, key)).toMatchObject({ valid: true, credits: 4 });
    });

    it("a refill only raises the balance to amount, never lowers it", async () => {
      const h = await Harness.init();
      const day = midnightIn(3);
      const c = clocked(h, day + HOUR);
      const { keyId, key } = await c.createKey({ credits: { remaining: 20, refill: { interval: "daily", amount: 5 } } });
      expect((await c.verifyAt(day + 2 * HOUR, key)).credits).toBe(19);
      expect((await c.verifyAt(day + DAY + HOUR, key)).credits).toBe(18);
      expect(await c.creditsAt(day + 5 * DAY, keyId)).toMatchObject({ remaining: 18 });
    });

    it("monthly: refills on refillDay at UTC midnight, not the day before", async () => {
      const h = await Harness.init();
      const year = new Date().getUTCFullYear() + 1;
      const c = clocked(h, Date.UTC(year, 5, 20, 9)); // 20 June
      const { keyId, key } = await c.createKey({ credits: { remaining: 1, refill: { interval: "monthly", amount: 3, refillDay: 15 } } });
      expect((await c.verifyAt(Date.UTC(year, 5, 21), key)).credits).toBe(0);
      expect((await c.verifyAt(Date.UTC(year, 6, 1), key)).code).toBe("USAGE_EXCEEDED");
      expect((await c.verifyAt(Date.UTC(year, 6, 15) - 1, key)).code).toBe("USAGE_EXCEEDED");
      expect(await c.verifyAt(Date.UTC(year, 6, 15), key)).toMatchObject({ valid: true, credits: 2 });
      expect(await c.creditsAt(Date.UTC(year, 6, 31), keyId)).toEqual({
        remaining: 2,
        refill: { interval: "monthly", amount: 3, refillDay: 15 },
      });
    });

    it("monthly on the 31st refills on 30 April and on 29 February of a leap year", async () => {
      const h = await Harness.init();
      // The next leap year at least a year away.
      let year = new Date().getUTCFullYear() + 1;
      while (year % 4 !== 0 || (year % 100 === 0 && year % 400 !== 0)) year++;
      const c = clocked(h, Date.UTC(year, 0, 31, 12)); // 31 January
      const { key } = await c.createKey({ credits: { remaining: 1, refill: { interval: "monthly", amount: 2, refillDay: 31 } } });
      expect((await c.verifyAt(Date.UTC(year, 0, 31, 13), key)).credits).toBe(0);
      expect((await c.verifyAt(Date.UTC(year, 1, 28, 23), key)).code).toBe("USAGE_EXCEEDED");
      expect(await c.verifyAt(Date.UTC(year, 1, 29), key)).toMatchObject({ valid: true, credits: 1 });
      expect((await c.verifyAt(Date.UTC(year, 1, 29, 1), key)).credits).toBe(0);
      expect((await c.verifyAt(Date.UTC(year, 2, 30), key)).code).toBe("USAGE_EXCEEDED");
      expect(await c.verifyAt(Date.UTC(year, 2, 31), key)).toMatchObject({ valid: true, credits: 1 });
      expect((await c.verifyAt(Date.UTC(year, 2, 31, 1), key)).credits).toBe(0);
      expect((await c.verifyAt(Date.UTC(year, 3, 29, 23), key)).code).toBe("USAGE_EXCEEDED");
      expect(await c.verifyAt(Date.UTC(year, 3, 30), key)).toMatchObject({ valid: true, credits: 1 });
    });
  });
});

describe("updateKey credits under concurrent verifies", () => {
  it("a refill-only patch applied while verifies spend keeps every spent credit spent", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey({ credits: { remaining: 100 } });
    const verifies = Array.from({ length: 40 }, () => h.post("/v2/keys.verifyKey", { key }));
    const update = h.post("/v2/keys.updateKey", { keyId, credits: { refill: { interval: "daily", amount: 500 } } });
    const results = await Promise.all([...verifies, update]);
    expect(results.at(-1)!.status).toBe(200);
    const valid = results.slice(0, -1).filter((r) => r.body.data?.valid).length;
    const after = await h.post("/v2/keys.getKey", { keyId });
    // The patch ran inside the key's object: it neither restored spent credits nor topped the key up.
    expect(after.body.data.credits).toEqual({ remaining: 100 - valid, refill: { interval: "daily", amount: 500 } });
  });
});
