/**
 * The per-key `KeyState` Durable Object on its own: what it stores, how its state carries from call to
 * call, the alarm that mirrors the balance to D1, pruning of stale windows, and zod at the RPC boundary.
 * Objects are addressed as the Worker addresses them: `idFromName("<workspaceId>:<keyId>")`.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CREDITS_MIRROR_DELAY_MS, type KeyState } from "../../src/durable/key-state";
import { newId } from "../../src/lib/ids";
import type { KeyVerifyAnswer } from "../../src/lib/key-verify";
import type { CreditState } from "../../src/lib/usage";
import { Harness } from "../harness";

const MINUTE = 60_000;
/** A fixed point well in the future: the object's alarm (now + 10 s) then never fires by itself mid-test. */
const T = (Math.floor(Date.now() / MINUTE) + 60 * 24 * 365) * MINUTE;

function stubFor(workspaceId: string, keyId: string): DurableObjectStub<KeyState> {
  return env.KEY_STATE.get(env.KEY_STATE.idFromName(`${workspaceId}:${keyId}`));
}

/** A fresh object (random key id) of a random workspace. */
function freshStub(): { stub: DurableObjectStub<KeyState>; ident: { workspaceId: string; keyId: string } } {
  const ident = { workspaceId: newId("ws"), keyId: newId("key") };
  return { stub: stubFor(ident.workspaceId, ident.keyId), ident };
}

function decided(o: KeyVerifyAnswer) {
  if (o.kind !== "decided") throw new Error(`expected a decision, got ${JSON.stringify(o)}`);
  return o;
}

const credits = (remaining: number, extra: Partial<CreditState> = {}): CreditState => ({ remaining, lastRefillAt: T - 1, ...extra });

describe("KeyState", () => {
  describe("state across calls", () => {
    it("spends the seeded balance across calls and ignores later seeds", async () => {
      const { stub, ident } = freshStub();
      const first = decided(await stub.verify({ ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 1 }, now: T }));
      expect(first).toMatchObject({ code: "VALID", remaining: 2 });
      // A caller whose record still says 3 (the lagging D1 mirror) does not reset the balance.
      const second = decided(await stub.verify({ ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 2 }, now: T + 1 }));
      expect(second).toMatchObject({ code: "VALID", remaining: 0 });
      const third = decided(await stub.verify({ ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 1 }, now: T + 2 }));
      expect(third).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    });

    it("stores exactly what a restarted object needs: revision, windows, credits and its key", async () => {
      const { stub, ident } = freshStub();
      await stub.verify({
        ...ident,
        revision: 4,
        limits: [{ name: "requests", limit: 10, duration: MINUTE, cost: 3 }],
        credits: { initial: credits(10), cost: 2 },
        now: T + 5,
      });
      const stored = await runInDurableObject(stub, async (_instance, state) => Object.fromEntries(await state.storage.list()));
      expect(stored).toEqual({
        revision: 4,
        ident,
        credits: { remaining: 8, lastRefillAt: T - 1 },
        windows: { requests: { duration: MINUTE, seq: Math.floor((T + 5) / MINUTE), current: 3, previous: 0 } },
      });
    });

    it("counts rate-limit windows across calls, all-or-nothing", async () => {
      const { stub, ident } = freshStub();
      const limits = [
        { name: "a", limit: 2, duration: MINUTE, cost: 1 },
        { name: "b", limit: 10, duration: MINUTE, cost: 1 },
      ];
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) codes.push(decided(await stub.verify({ ...ident, revision: 0, limits, now: T + i })).code);
      expect(codes).toEqual(["VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"]);
      const b = await runInDurableObject(stub, async (_i, state) => (await state.storage.get<Record<string, { current: number }>>("windows"))?.b);
      expect(b?.current).toBe(2);
    });

    it("a record older than the object's revision is stale, and nothing is consumed", async () => {
      const { stub, ident } = freshStub();
      expect(await stub.observe(5)).toEqual({ stale: false, next: 5 });
      const stale = await stub.verify({ ...ident, revision: 4, limits: [], credits: { initial: credits(1), cost: 1 }, now: T });
      expect(stale).toEqual({ kind: "stale", revision: 5 });
      expect(await stub.readCredits({ initial: credits(1), now: T })).toEqual(credits(1));
      expect(await runInDurableObject(stub, async (_i, state) => state.storage.get("credits"))).toBeUndefined();
      // The current revision is accepted, a newer one adopted.
      expect(decided(await stub.verify({ ...ident, revision: 7, limits: [], credits: { initial: credits(1), cost: 1 }, now: T })).code).toBe("VALID");
      expect(await stub.observe(6)).toEqual({ stale: true, next: 7 });
    });

    it("changeCredits applies operations to the object's balance, seeded from D1 only the first time", async () => {
      const { stub, ident } = freshStub();
      const op = (operation: "increment" | "decrement", value: number) => ({ ...ident, initial: credits(10), change: { kind: "operation" as const, op: { operation, value } }, now: T });
      expect(await stub.changeCredits(op("increment", 5))).toMatchObject({ remaining: 15 });
      expect(await stub.changeCredits(op("decrement", 20))).toMatchObject({ remaining: 0 });
      expect(await stub.changeCredits({ ...ident, initial: credits(10), change: { kind: "operation", op: { operation: "set", value: null } }, now: T })).toBeNull();
      // Unlimited now: incrementing it is refused, and a verify with a stale record's credits is admitted free.
      const refused = await runInDurableObject(stub, async (instance) => instance.changeCredits(op("increment", 1)).then(() => null, (e: unknown) => e));
      expect(refused).toBeInstanceOf(RangeError);
      const free = decided(await stub.verify({ ...ident, revision: 0, limits: [], credits: { initial: credits(0), cost: 1 }, now: T }));
      expect(free.code).toBe("VALID");
      expect(free.remaining).toBeUndefined();
      expect(await stub.changeCredits({ ...ident, initial: null, change: { kind: "replace", state: credits(2) }, now: T })).toEqual(credits(2));
      expect(await stub.readCredits({ initial: null, now: T })).toEqual(credits(2));
    });

    it("readCredits applies a refill that fell due without storing anything", async () => {
      const { stub, ident } = freshStub();
      const day = 86_400_000;
      const midnight = Math.floor(T / day) * day;
      const daily = credits(0, { refill: { amount: 5 }, lastRefillAt: midnight - 1 });
      await stub.changeCredits({ ...ident, initial: null, change: { kind: "replace", state: daily }, now: midnight - 1 });
      expect(await stub.readCredits({ initial: null, now: midnight - 1 })).toMatchObject({ remaining: 0 });
      expect(await stub.readCredits({ initial: null, now: midnight })).toEqual({ remaining: 5, refill: { amount: 5 }, lastRefillAt: midnight });
      expect(await runInDurableObject(stub, async (_i, state) => state.storage.get("credits"))).toEqual(daily);
    });
  });

  describe("the D1 mirror alarm", () => {
    it("writes the balance to keys.credits_remaining when it runs, and only then", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10, refill: { interval: "daily", amount: 10 } } });
      const stub = stubFor(h.workspaceId, keyId);
      const row = () =>
        env.DB.prepare("SELECT credits_remaining, last_refill_at FROM keys WHERE id = ?")
          .bind(keyId)
          .first<{ credits_remaining: number; last_refill_at: number }>();
      const before = await row();
      const seed = { remaining: 10, refill: { amount: 10 }, lastRefillAt: before!.last_refill_at };
      for (let i = 0; i < 3; i++) {
        await stub.verify({ workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: seed, cost: 1 }, now: T + i });
      }
      // The alarm is scheduled CREDITS_MIRROR_DELAY_MS after the first change; until it runs, D1 lags.
      const alarmAt = await runInDurableObject(stub, async (_i, state) => state.storage.getAlarm());
      expect(alarmAt).toBe(T + CREDITS_MIRROR_DELAY_MS);
      expect((await row())?.credits_remaining).toBe(10);

      expect(await runDurableObjectAlarm(stub)).toBe(true);
      // A refill fell due between creation (today) and T (a year on), so the balance was reset before spending.
      expect(await row()).toEqual({ credits_remaining: 7, last_refill_at: Math.floor(T / 86_400_000) * 86_400_000 });
      expect(await runDurableObjectAlarm(stub)).toBe(false);

      // The next change schedules the alarm again.
      await stub.verify({ workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: seed, cost: 2 }, now: T + 10 });
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect((await row())?.credits_remaining).toBe(5);
    });

    it("only writes the key the object belongs to, in its own workspace", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10 } });
      const other = await h.createKey({ credits: { remaining: 10 } });
      // An object whose stored workspace is not the key's must not touch the row.
      const foreign = stubFor("ws_someoneElse", keyId);
      await foreign.verify({ workspaceId: "ws_someoneElse", keyId, revision: 0, limits: [], credits: { initial: credits(10), cost: 4 }, now: T });
      expect(await runDurableObjectAlarm(foreign)).toBe(true);
      const own = stubFor(h.workspaceId, keyId);
      await own.verify({ workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: credits(10), cost: 1 }, now: T });
      expect(await runDurableObjectAlarm(own)).toBe(true);
      const rows = await env.DB.prepare("SELECT id, credits_remaining FROM keys WHERE id IN (?, ?) ORDER BY id")
        .bind(keyId, other.keyId)
        .all<{ id: string; credits_remaining: number }>();
      expect(Object.fromEntries(rows.results.map((r) => [r.id, r.credits_remaining]))).toEqual({ [keyId]: 9, [other.keyId]: 10 });
    });

    it("an object without a balance (limits only, or unlimited) sets no alarm and writes nothing", async () => {
      const { stub, ident } = freshStub();
      await stub.verify({ ...ident, revision: 0, limits: [{ name: "requests", limit: 5, duration: MINUTE, cost: 1 }], now: T });
      expect(await runInDurableObject(stub, async (_i, state) => state.storage.getAlarm())).toBeNull();
      expect(await runDurableObjectAlarm(stub)).toBe(false);
    });
  });

  describe("pruning", () => {
    it("drops windows that can no longer influence a decision on the next write", async () => {
      const { stub, ident } = freshStub();
      const short = { name: "short", limit: 5, duration: 1000, cost: 1 };
      const long = { name: "long", limit: 5, duration: 60 * MINUTE, cost: 1 };
      await stub.verify({ ...ident, revision: 0, limits: [short, long], now: T });
      const names = async () =>
        runInDurableObject(stub, async (_i, state) => Object.keys((await state.storage.get<Record<string, unknown>>("windows")) ?? {}).sort());
      expect(await names()).toEqual(["long", "short"]);
      // One window later, "short" still counts as the previous window.
      await stub.verify({ ...ident, revision: 0, limits: [long], now: T + 1000 });
      expect(await names()).toEqual(["long", "short"]);
      // Two windows later it cannot matter any more.
      await stub.verify({ ...ident, revision: 0, limits: [long], now: T + 2000 });
      expect(await names()).toEqual(["long"]);
      // And a fresh "short" starts from zero.
      const again = decided(await stub.verify({ ...ident, revision: 0, limits: [short], now: T + 2001 }));
      expect(again.limits[0]).toMatchObject({ name: "short", remaining: 4 });
    });
  });

  describe("RPC input is checked with zod", () => {
    const ident = { workspaceId: "ws_zod", keyId: "key_zod" };
    const good = { ...ident, revision: 0, limits: [], now: T };
    const badVerifies: [string, unknown][] = [
      ["nothing", undefined],
      ["a string", "verify"],
      ["no workspace", { ...good, workspaceId: "" }],
      ["no keyId", { ...good, keyId: undefined }],
      ["negative revision", { ...good, revision: -1 }],
      ["fractional revision", { ...good, revision: 1.5 }],
      ["no now", { ...good, now: undefined }],
      ["negative cost", { ...good, limits: [{ name: "a", limit: 1, duration: MINUTE, cost: -1 }] }],
      ["duration below 1 s", { ...good, limits: [{ name: "a", limit: 1, duration: 999, cost: 1 }] }],
      ["duration above 30 days", { ...good, limits: [{ name: "a", limit: 1, duration: 2_592_000_001, cost: 1 }] }],
      ["negative limit", { ...good, limits: [{ name: "a", limit: -1, duration: MINUTE, cost: 1 }] }],
      ["empty name", { ...good, limits: [{ name: "", limit: 1, duration: MINUTE, cost: 1 }] }],
      ["201 limits", { ...good, limits: Array.from({ length: 201 }, (_, i) => ({ name: `l${i}`, limit: 1, duration: MINUTE, cost: 1 })) }],
      ["negative balance", { ...good, credits: { initial: { remaining: -1, lastRefillAt: 0 }, cost: 1 } }],
      ["refill day 32", { ...good, credits: { initial: { remaining: 1, lastRefillAt: 0, refill: { amount: 1, refillDay: 32 } }, cost: 1 } }],
      ["refill amount 0", { ...good, credits: { initial: { remaining: 1, lastRefillAt: 0, refill: { amount: 0 } }, cost: 1 } }],
      ["negative credit cost", { ...good, credits: { initial: { remaining: 1, lastRefillAt: 0 }, cost: -1 } }],
    ];

    it("verify rejects malformed input and stores nothing", async () => {
      const { stub } = freshStub();
      for (const [what, input] of badVerifies) {
        const err = await runInDurableObject(stub, async (instance) => instance.verify(input).then(() => null, (e: unknown) => e));
        expect(err, what).toBeInstanceOf(Error);
        expect((err as Error).name, what).toBe("ZodError");
      }
      expect(await runInDurableObject(stub, async (_i, state) => (await state.storage.list()).size)).toBe(0);
    });

    it("changeCredits, readCredits and observe reject malformed input", async () => {
      const { stub } = freshStub();
      const badChanges: unknown[] = [
        {},
        { ...ident, initial: null, change: { kind: "operation", op: { operation: "multiply", value: 2 } }, now: T },
        { ...ident, initial: null, change: { kind: "operation", op: { operation: "increment", value: -1 } }, now: T },
        { ...ident, initial: null, change: { kind: "operation", op: { operation: "increment", value: null } }, now: T },
        { ...ident, initial: null, change: { kind: "replace", state: { remaining: 1.5, lastRefillAt: 0 } }, now: T },
        { ...ident, initial: null, change: { kind: "wipe" }, now: T },
      ];
      for (const input of badChanges) {
        const err = await runInDurableObject(stub, async (instance) => instance.changeCredits(input).then(() => null, (e: unknown) => e));
        expect((err as Error | null)?.name, JSON.stringify(input)).toBe("ZodError");
      }
      for (const input of [{}, { initial: null }, { initial: { remaining: -1, lastRefillAt: 0 }, now: T }]) {
        const err = await runInDurableObject(stub, async (instance) => instance.readCredits(input).then(() => null, (e: unknown) => e));
        expect((err as Error | null)?.name, JSON.stringify(input)).toBe("ZodError");
      }
      for (const revision of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
        const err = await runInDurableObject(stub, async (instance) => instance.observe(revision).then(() => null, (e: unknown) => e));
        expect(err, String(revision)).toBeInstanceOf(RangeError);
      }
      expect(await runInDurableObject(stub, async (_i, state) => (await state.storage.list()).size)).toBe(0);
    });
  });
});
