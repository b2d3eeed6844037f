import { describe, expect, it } from "vitest";
import { decideKeyVerify, type KeyObjectState, type KeyVerifyInput, type KeyVerifyOutcome } from "./key-verify";
import type { WindowState } from "./ratelimit";
import type { CreditState } from "./usage";

const D = 60_000;
const NOW = 28_000_000 * D + 123;
const SEQ = Math.floor(NOW / D);

const empty: KeyObjectState = { revision: 0, credits: undefined, windows: {} };
const limitReq = (name: string, limit: number, cost = 1) => ({ name, limit, duration: D, cost });
const window = (current: number): WindowState => ({ duration: D, seq: SEQ, current, previous: 0 });

function input(overrides: Partial<KeyVerifyInput> = {}): KeyVerifyInput {
  return { revision: 0, limits: [], now: NOW, ...overrides };
}

function decided(o: KeyVerifyOutcome): Extract<KeyVerifyOutcome, { kind: "decided" }> {
  if (o.kind !== "decided") throw new Error("expected a decision");
  return o;
}

describe("decideKeyVerify", () => {
  describe("revision", () => {
    it("a record older than the object's revision is stale and decides nothing", () => {
      const state: KeyObjectState = { revision: 3, credits: { remaining: 5, lastRefillAt: 0 }, windows: {} };
      expect(decideKeyVerify(state, input({ revision: 2, limits: [limitReq("a", 1)] }))).toEqual({ kind: "stale", revision: 3 });
    });

    it("the same or a newer revision is decided and the object adopts the newer one", () => {
      const state: KeyObjectState = { revision: 3, credits: undefined, windows: {} };
      expect(decided(decideKeyVerify(state, input({ revision: 3 }))).next.revision).toBe(3);
      expect(decided(decideKeyVerify(state, input({ revision: 7 }))).next.revision).toBe(7);
    });
  });

  describe("limits", () => {
    it("VALID consumes from every limit", () => {
      const o = decided(decideKeyVerify(empty, input({ limits: [limitReq("a", 5), limitReq("b", 2)] })));
      expect(o.code).toBe("VALID");
      expect(o.limits).toEqual([
        { name: "a", passed: true, limit: 5, remaining: 4, reset: (SEQ + 1) * D },
        { name: "b", passed: true, limit: 2, remaining: 1, reset: (SEQ + 1) * D },
      ]);
      expect(o.next.windows).toEqual({ a: window(1), b: window(1) });
      expect(o.remaining).toBeUndefined();
    });

    it("RATE_LIMITED consumes nothing: no limit token, no credit", () => {
      const credits: CreditState = { remaining: 5, lastRefillAt: NOW - 1 };
      const state: KeyObjectState = { revision: 0, credits, windows: { a: window(1), b: window(2) } };
      const o = decided(decideKeyVerify(state, input({ limits: [limitReq("a", 5), limitReq("b", 2)], credits: { initial: credits, cost: 1 } })));
      expect(o.code).toBe("RATE_LIMITED");
      expect(o.next.windows).toEqual(state.windows);
      expect(o.next.credits).toEqual(credits);
      expect(o.limits.map((l) => [l.name, l.passed, l.remaining])).toEqual([
        ["a", true, 4],
        ["b", false, 0],
      ]);
    });
  });

  describe("credits", () => {
    it("VALID consumes both limit tokens and credits", () => {
      const credits: CreditState = { remaining: 5, lastRefillAt: NOW - 1 };
      const state: KeyObjectState = { revision: 0, credits, windows: {} };
      const o = decided(decideKeyVerify(state, input({ limits: [limitReq("a", 5)], credits: { initial: credits, cost: 2 } })));
      expect(o.code).toBe("VALID");
      expect(o.remaining).toBe(3);
      expect(o.next.credits).toEqual({ ...credits, remaining: 3 });
      expect(o.next.windows).toEqual({ a: window(1) });
    });

    it("USAGE_EXCEEDED consumes no limit token and no credit, and limits report what is left without it", () => {
      const credits: CreditState = { remaining: 1, lastRefillAt: NOW - 1 };
      const state: KeyObjectState = { revision: 0, credits, windows: { a: window(2) } };
      const o = decided(decideKeyVerify(state, input({ limits: [limitReq("a", 5)], credits: { initial: credits, cost: 2 } })));
      expect(o.code).toBe("USAGE_EXCEEDED");
      expect(o.remaining).toBe(1);
      expect(o.next.credits).toEqual(credits);
      expect(o.next.windows).toEqual({ a: window(2) });
      expect(o.limits).toEqual([{ name: "a", passed: true, limit: 5, remaining: 3, reset: (SEQ + 1) * D }]);
    });

    it("seeds the balance from the record only when the object has none yet", () => {
      const initial: CreditState = { remaining: 10, lastRefillAt: NOW - 1 };
      const seeded = decided(decideKeyVerify(empty, input({ credits: { initial, cost: 1 } })));
      expect(seeded).toMatchObject({ code: "VALID", remaining: 9 });
      // The object's own balance wins over whatever the (possibly lagging) record says.
      const own: KeyObjectState = { revision: 0, credits: { remaining: 2, lastRefillAt: NOW - 1 }, windows: {} };
      expect(decided(decideKeyVerify(own, input({ credits: { initial, cost: 1 } })))).toMatchObject({ code: "VALID", remaining: 1 });
      const exhausted: KeyObjectState = { revision: 0, credits: { remaining: 0, lastRefillAt: NOW - 1 }, windows: {} };
      expect(decided(decideKeyVerify(exhausted, input({ credits: { initial, cost: 1 } })))).toMatchObject({
        code: "USAGE_EXCEEDED",
        remaining: 0,
      });
    });

    it("a refused verify still stores the seed, so a later verify does not re-seed", () => {
      const initial: CreditState = { remaining: 10, lastRefillAt: NOW - 1 };
      const o = decided(decideKeyVerify(empty, input({ limits: [limitReq("a", 0)], credits: { initial, cost: 1 } })));
      expect(o.code).toBe("RATE_LIMITED");
      expect(o.next.credits).toEqual(initial);
    });

    it("null in the object means unlimited: VALID, nothing charged, even when the record still carries a balance", () => {
      const state: KeyObjectState = { revision: 0, credits: null, windows: {} };
      const o = decided(decideKeyVerify(state, input({ credits: { initial: { remaining: 0, lastRefillAt: 0 }, cost: 5 } })));
      expect(o.code).toBe("VALID");
      expect(o.remaining).toBeUndefined();
      expect(o.next.credits).toBeNull();
    });

    it("without credits in the request, a balance in the object is left alone", () => {
      const credits: CreditState = { remaining: 3, lastRefillAt: NOW - 1 };
      const o = decided(decideKeyVerify({ revision: 0, credits, windows: {} }, input({ limits: [limitReq("a", 5)] })));
      expect(o.code).toBe("VALID");
      expect(o.next.credits).toEqual(credits);
      // A key the object has never seen stays uninitialised.
      expect(decided(decideKeyVerify(empty, input({ limits: [limitReq("a", 5)] }))).next.credits).toBeUndefined();
    });

    it("cost 0 passes on an empty balance and charges nothing", () => {
      const credits: CreditState = { remaining: 0, lastRefillAt: NOW - 1 };
      const o = decided(decideKeyVerify({ revision: 0, credits, windows: {} }, input({ credits: { initial: credits, cost: 0 } })));
      expect(o).toMatchObject({ code: "VALID", remaining: 0 });
    });

    it("applies a refill that fell due, even when the verify is refused for usage", () => {
      const lastMidnight = Math.floor(NOW / 86_400_000) * 86_400_000;
      const credits: CreditState = { remaining: 0, refill: { amount: 3 }, lastRefillAt: lastMidnight - 1 };
      const o = decided(decideKeyVerify({ revision: 0, credits, windows: {} }, input({ credits: { initial: credits, cost: 4 } })));
      expect(o).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 3 });
      expect(o.next.credits).toEqual({ remaining: 3, refill: { amount: 3 }, lastRefillAt: lastMidnight });
    });

    it("N credits admit exactly N of many sequential verifies", () => {
      let state: KeyObjectState = empty;
      const initial: CreditState = { remaining: 50, lastRefillAt: NOW };
      const codes: Record<string, number> = {};
      for (let i = 0; i < 300; i++) {
        const o = decided(decideKeyVerify(state, input({ limits: [limitReq("a", 1000)], credits: { initial, cost: 1 } })));
        codes[o.code] = (codes[o.code] ?? 0) + 1;
        state = o.next;
      }
      expect(codes).toEqual({ VALID: 50, USAGE_EXCEEDED: 250 });
      expect(state.windows.a?.current).toBe(50);
    });
  });
});
