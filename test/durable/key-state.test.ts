/**
 * The per-key `KeyState` Durable Object on its own: what it stores and when, how its state carries from call
 * to call, the alarm that stores windows and mirrors the balance to D1, pruning of stale windows, and the
 * checks at the RPC boundary.
 * Objects are addressed as the Worker addresses them: `idFromName("<workspaceId>:<keyId>")`.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CREDITS_MIRROR_DELAY_MS, WINDOW_FLUSH_MS, type KeyState } from "../../src/durable/key-state";
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

/** `KeyState.verify` speaks JSON text, as the Worker's client does. */
async function verify(stub: DurableObjectStub<KeyState>, input: object): Promise<KeyVerifyAnswer> {
  return JSON.parse(await stub.verify(JSON.stringify(input))) as KeyVerifyAnswer;
}

const storedWindows = (stub: DurableObjectStub<KeyState>) =>
  runInDurableObject(stub, async (_i, state) => state.storage.get<Record<string, { current: number; previous: number }>>("windows"));

function decided(o: KeyVerifyAnswer) {
  if (o.kind !== "decided") throw new Error(`expected a decision, got ${JSON.stringify(o)}`);
  return o;
}

const credits = (remaining: number, extra: Partial<CreditState> = {}): CreditState => ({ remaining, lastRefillAt: T - 1, ...extra });

describe("KeyState", () => {
  describe("state across calls", () => {
    it("spends the seeded balance across calls and ignores later seeds", async () => {
      const { stub, ident } = freshStub();
      const first = decided(await verify(stub, { ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 1 }, now: T }));
      expect(first).toMatchObject({ code: "VALID", remaining: 2 });
      // A caller whose record still says 3 (the lagging D1 mirror) does not reset the balance.
      const second = decided(await verify(stub, { ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 2 }, now: T + 1 }));
      expect(second).toMatchObject({ code: "VALID", remaining: 0 });
      const third = decided(await verify(stub, { ...ident, revision: 0, limits: [], credits: { initial: credits(3), cost: 1 }, now: T + 2 }));
      expect(third).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    });

    it("stores exactly what a restarted object needs: revision, windows, credits and its key", async () => {
      const { stub, ident } = freshStub();
      await verify(stub, {
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
      for (let i = 0; i < 4; i++) codes.push(decided(await verify(stub, { ...ident, revision: 0, limits, now: T + i })).code);
      expect(codes).toEqual(["VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"]);
      // The first call stored the object's key, and its windows with it; later counts wait for the alarm.
      expect((await storedWindows(stub))?.b?.current).toBe(1);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect((await storedWindows(stub))?.b?.current).toBe(2);
    });

    it("stores windows from its alarm, at most WINDOW_FLUSH_MS after they change, one write for many verifies", async () => {
      const { stub, ident } = freshStub();
      const limits = [{ name: "requests", limit: 100, duration: MINUTE, cost: 1 }];
      // The first verify stores the object's key, and the windows with it.
      await verify(stub, { ...ident, revision: 0, limits, now: T });
      expect(await runDurableObjectAlarm(stub)).toBe(false);
      const puts = await runInDurableObject(stub, async (_i, state) => {
        let count = 0;
        const put = state.storage.put.bind(state.storage) as (...args: unknown[]) => Promise<void>;
        (state.storage as unknown as { put: (...args: unknown[]) => Promise<void> }).put = (...args) => {
          count++;
          return put(...args);
        };
        return () => count;
      });
      for (let i = 1; i <= 20; i++) await verify(stub, { ...ident, revision: 0, limits, now: T + i });
      // Twenty verifies, no write yet; one alarm, due WINDOW_FLUSH_MS after the first of them.
      expect(puts()).toBe(0);
      expect(await runInDurableObject(stub, async (_i, state) => state.storage.getAlarm())).toBe(T + 1 + WINDOW_FLUSH_MS);
      expect((await storedWindows(stub))?.requests?.current).toBe(1);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(puts()).toBe(1);
      expect((await storedWindows(stub))?.requests?.current).toBe(21);
      // Nothing changed since: no alarm is left, and a stray one would write nothing.
      expect(await runDurableObjectAlarm(stub)).toBe(false);
    });

    it("a refused verify changes no window and schedules nothing", async () => {
      const { stub, ident } = freshStub();
      const limits = [{ name: "requests", limit: 1, duration: MINUTE, cost: 1 }];
      expect(decided(await verify(stub, { ...ident, revision: 0, limits, now: T })).code).toBe("VALID");
      expect(await runDurableObjectAlarm(stub)).toBe(false);
      expect(decided(await verify(stub, { ...ident, revision: 0, limits, now: T + 1 })).code).toBe("RATE_LIMITED");
      expect(await runDurableObjectAlarm(stub)).toBe(false);
    });

    it("a record older than the object's revision is stale, and nothing is consumed", async () => {
      const { stub, ident } = freshStub();
      expect(await stub.observe(5)).toEqual({ stale: false, next: 5 });
      const stale = await verify(stub, { ...ident, revision: 4, limits: [], credits: { initial: credits(1), cost: 1 }, now: T });
      expect(stale).toEqual({ kind: "stale", revision: 5 });
      expect(await stub.readCredits({ initial: credits(1), now: T })).toEqual(credits(1));
      expect(await runInDurableObject(stub, async (_i, state) => state.storage.get("credits"))).toBeUndefined();
      // The current revision is accepted, a newer one adopted.
      expect(decided(await verify(stub, { ...ident, revision: 7, limits: [], credits: { initial: credits(1), cost: 1 }, now: T })).code).toBe("VALID");
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
      const free = decided(await verify(stub, { ...ident, revision: 0, limits: [], credits: { initial: credits(0), cost: 1 }, now: T }));
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
        await verify(stub, { workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: seed, cost: 1 }, now: T + i });
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
      await verify(stub, { workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: seed, cost: 2 }, now: T + 10 });
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect((await row())?.credits_remaining).toBe(5);
    });

    it("only writes the key the object belongs to, in its own workspace", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10 } });
      const other = await h.createKey({ credits: { remaining: 10 } });
      // An object whose stored workspace is not the key's must not touch the row.
      const foreign = stubFor("ws_someoneElse", keyId);
      await verify(foreign, { workspaceId: "ws_someoneElse", keyId, revision: 0, limits: [], credits: { initial: credits(10), cost: 4 }, now: T });
      expect(await runDurableObjectAlarm(foreign)).toBe(true);
      const own = stubFor(h.workspaceId, keyId);
      await verify(own, { workspaceId: h.workspaceId, keyId, revision: 0, limits: [], credits: { initial: credits(10), cost: 1 }, now: T });
      expect(await runDurableObjectAlarm(own)).toBe(true);
      const rows = await env.DB.prepare("SELECT id, credits_remaining FROM keys WHERE id IN (?, ?) ORDER BY id")
        .bind(keyId, other.keyId)
        .all<{ id: string; credits_remaining: number }>();
      expect(Object.fromEntries(rows.results.map((r) => [r.id, r.credits_remaining]))).toEqual({ [keyId]: 9, [other.keyId]: 10 });
    });

    it("an object without a balance (limits only) never writes to D1: its alarm only stores windows", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10 } });
      const own = stubFor(h.workspaceId, keyId);
      const limits = [{ name: "requests", limit: 5, duration: MINUTE, cost: 1 }];
      await verify(own, { workspaceId: h.workspaceId, keyId, revision: 0, limits, now: T });
      await verify(own, { workspaceId: h.workspaceId, keyId, revision: 0, limits, now: T + 1 });
      expect(await runDurableObjectAlarm(own)).toBe(true);
      expect((await storedWindows(own))?.requests?.current).toBe(2);
      const row = await env.DB.prepare("SELECT credits_remaining FROM keys WHERE id = ?").bind(keyId).first<{ credits_remaining: number }>();
      expect(row?.credits_remaining).toBe(10);
      expect(await runDurableObjectAlarm(own)).toBe(false);
    });

    it("one alarm serves both: windows when they are due, the balance when it is due", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 10 } });
      const own = stubFor(h.workspaceId, keyId);
      const ident = { workspaceId: h.workspaceId, keyId };
      const limits = [{ name: "requests", limit: 5, duration: MINUTE, cost: 1 }];
      const balance = () => env.DB.prepare("SELECT credits_remaining FROM keys WHERE id = ?").bind(keyId).first<{ credits_remaining: number }>();
      const alarmAt = () => runInDurableObject(own, async (_i, state) => state.storage.getAlarm());
      // The first verify writes the balance (and the windows with it) before it answers, and schedules the mirror.
      await verify(own, { ...ident, revision: 0, limits, credits: { initial: credits(10), cost: 1 }, now: T });
      expect(await alarmAt()).toBe(T + CREDITS_MIRROR_DELAY_MS);
      // A verify that spends no credit changes only a window: nothing is written, and the alarm comes earlier.
      expect(decided(await verify(own, { ...ident, revision: 0, limits, credits: { initial: credits(10), cost: 0 }, now: T + 5 }))).toMatchObject({
        code: "VALID",
        remaining: 9,
      });
      expect((await storedWindows(own))?.requests?.current).toBe(1);
      expect(await alarmAt()).toBe(T + 5 + WINDOW_FLUSH_MS);
      // That alarm stores the windows, leaves the mirror for later, and re-arms for it.
      expect(await runDurableObjectAlarm(own)).toBe(true);
      expect((await storedWindows(own))?.requests?.current).toBe(2);
      expect((await balance())?.credits_remaining).toBe(10);
      expect(await alarmAt()).toBe(T + CREDITS_MIRROR_DELAY_MS);
      expect(await runDurableObjectAlarm(own)).toBe(true);
      expect((await balance())?.credits_remaining).toBe(9);
      expect(await runDurableObjectAlarm(own)).toBe(false);
    });
  });

  describe("pruning", () => {
    it("drops windows that can no longer influence a decision when it stores them", async () => {
      const { stub, ident } = freshStub();
      const short = { name: "short", limit: 5, duration: 1000, cost: 1 };
      const long = { name: "long", limit: 5, duration: 60 * MINUTE, cost: 1 };
      await verify(stub, { ...ident, revision: 0, limits: [short, long], now: T });
      const names = async () => {
        await runDurableObjectAlarm(stub);
        return Object.keys((await storedWindows(stub)) ?? {}).sort();
      };
      expect(await names()).toEqual(["long", "short"]);
      // One window later, "short" still counts as the previous window.
      await verify(stub, { ...ident, revision: 0, limits: [long], now: T + 1000 });
      expect(await names()).toEqual(["long", "short"]);
      // Two windows later it cannot matter any more.
      await verify(stub, { ...ident, revision: 0, limits: [long], now: T + 2000 });
      expect(await names()).toEqual(["long"]);
      // And a fresh "short" starts from zero.
      const again = decided(await verify(stub, { ...ident, revision: 0, limits: [short], now: T + 2001 }));
      expect(again.limits[0]).toMatchObject({ name: "short", remaining: 4 });
    });
  });

  describe("RPC input is checked at the boundary", () => {
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

    it("verify rejects malformed input with zod's detailed error, and stores nothing", async () => {
      const { stub } = freshStub();
      const attempt = (input: unknown) =>
        runInDurableObject(stub, async (instance) => {
          try {
            await instance.verify(input);
            return null;
          } catch (e) {
            return e as Error;
          }
        });
      for (const [what, input] of badVerifies) {
        if (input === undefined) continue;
        const err = await attempt(JSON.stringify(input));
        expect(err, what).toBeInstanceOf(Error);
        expect(err?.name, what).toBe("ZodError");
      }
      // It speaks JSON text only.
      expect((await attempt(undefined))?.name).toBe("TypeError");
      expect((await attempt(good))?.name).toBe("TypeError");
      expect((await attempt("{not json"))?.name).toBe("SyntaxError");
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
