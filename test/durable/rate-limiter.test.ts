/**
 * The `RateLimiter` Durable Object on its own (identity limits and `ratelimit.limit`): counts are exact from
 * call to call, reach storage from the alarm at most WINDOW_FLUSH_MS after they change, refunds give tokens
 * back, and an object whose windows have all gone stale deletes its storage.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { WINDOW_FLUSH_MS } from "../../src/durable/key-state";
import type { RateLimiter } from "../../src/durable/rate-limiter";
import { newId } from "../../src/lib/ids";

const MINUTE = 60_000;
/** A minute boundary a year ahead: the object's alarms never fire by themselves mid-test. */
const T = (Math.floor(Date.now() / MINUTE) + 60 * 24 * 365) * MINUTE;

function fresh(): DurableObjectStub<RateLimiter> {
  return env.LIMITER.get(env.LIMITER.idFromName(`identity:${newId("ws")}:${newId("id")}`));
}

const requests = (limit: number, cost = 1) => [{ name: "per-user", limit, duration: MINUTE, cost }];
const stored = (stub: DurableObjectStub<RateLimiter>) =>
  runInDurableObject(stub, async (_i, state) => Object.fromEntries(await state.storage.list()));
const alarmAt = (stub: DurableObjectStub<RateLimiter>) => runInDurableObject(stub, async (_i, state) => state.storage.getAlarm());

describe("RateLimiter", () => {
  it("admits exactly `limit` requests in a window, all-or-nothing across limits", async () => {
    const stub = fresh();
    const passed: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await stub.limit({ requests: [...requests(3), { name: "burst", limit: 10, duration: 10_000, cost: 1 }], now: T + i });
      passed.push(r.passed);
    }
    expect(passed).toEqual([true, true, true, false, false]);
    // The refused requests consumed nothing from "burst" either.
    const peek = await stub.limit({ requests: [{ name: "burst", limit: 10, duration: 10_000, cost: 0 }], now: T + 10 });
    expect(peek.results[0]).toMatchObject({ name: "burst", remaining: 7 });
  });

  it("concurrent calls never over-admit", async () => {
    const stub = fresh();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => stub.limit({ requests: requests(25), now: T + i })));
    expect(results.filter((r) => r.passed)).toHaveLength(25);
  });

  it("stores windows from its alarm, at most WINDOW_FLUSH_MS after the first change, in one write", async () => {
    const stub = fresh();
    for (let i = 0; i < 10; i++) await stub.limit({ requests: requests(100), now: T + i });
    expect(await stored(stub)).toEqual({});
    expect(await alarmAt(stub)).toBe(T + WINDOW_FLUSH_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored(stub)).toEqual({ windows: { "per-user": { duration: MINUTE, seq: T / MINUTE, current: 10, previous: 0 } } });
    // The same alarm comes back to clean up once the longest window can no longer matter.
    expect(await alarmAt(stub)).toBe(T + WINDOW_FLUSH_MS + 2 * MINUTE + 1000);
  });

  it("a refund gives the tokens back, and is stored like any change", async () => {
    const stub = fresh();
    await stub.limit({ requests: requests(2, 2), now: T });
    expect((await stub.limit({ requests: requests(2), now: T + 1 })).passed).toBe(false);
    await stub.refund({ requests: requests(2, 2), now: T });
    expect((await stub.limit({ requests: requests(2), now: T + 2 })).passed).toBe(true);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stored(stub)).windows).toEqual({ "per-user": { duration: MINUTE, seq: T / MINUTE, current: 1, previous: 0 } });
  });

  it("deletes all storage once every window is stale", async () => {
    const stub = fresh();
    await stub.limit({ requests: requests(5), now: T });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(Object.keys(await stored(stub))).toEqual(["windows"]);
    // The cleanup alarm runs two windows later: nothing is left to keep.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored(stub)).toEqual({});
    expect(await alarmAt(stub)).toBeNull();
  });

  it("rejects malformed input with zod's error and changes nothing", async () => {
    const stub = fresh();
    for (const input of [undefined, {}, { requests: [], now: T }, { requests: [{ ...requests(1)[0], duration: 999 }], now: T }]) {
      const err = await runInDurableObject(stub, async (instance) => instance.limit(input).then(() => null, (e: unknown) => e as Error));
      expect(err?.name, JSON.stringify(input)).toBe("ZodError");
    }
    expect(await alarmAt(stub)).toBeNull();
  });
});
