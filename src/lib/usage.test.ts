import { describe, expect, it } from "vitest";
import { applyCreditOperation, applyRefill, decideUsage, lastRefillBoundary, patchCredits, type CreditState } from "./usage";

const utc = (y: number, m: number, d: number, h = 0, min = 0, s = 0, ms = 0) => Date.UTC(y, m - 1, d, h, min, s, ms);
const NOW = utc(2025, 6, 15, 12);

describe("decideUsage", () => {
  const state: CreditState = { remaining: 5, lastRefillAt: NOW - 1000 };

  it("spends the cost and reports what is left", () => {
    const d = decideUsage(state, 2, NOW);
    expect(d).toEqual({ allowed: true, remaining: 3, next: { remaining: 3, lastRefillAt: NOW - 1000 } });
  });

  it("spending exactly the balance is allowed and leaves 0", () => {
    expect(decideUsage(state, 5, NOW)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("never overdraws: a cost above the balance is refused and charges nothing", () => {
    const d = decideUsage(state, 6, NOW);
    expect(d).toEqual({ allowed: false, remaining: 5, next: state });
    const empty = decideUsage({ remaining: 0, lastRefillAt: NOW - 1000 }, 1, NOW);
    expect(empty).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("cost 0 passes even on an empty balance and changes nothing", () => {
    const empty: CreditState = { remaining: 0, lastRefillAt: NOW - 1000 };
    expect(decideUsage(empty, 0, NOW)).toEqual({ allowed: true, remaining: 0, next: empty });
  });

  it("counts down to exactly 0 over many requests and refuses the rest", () => {
    let s: CreditState = { remaining: 50, lastRefillAt: NOW };
    let allowed = 0;
    for (let i = 0; i < 300; i++) {
      const d = decideUsage(s, 1, NOW);
      if (d.allowed) allowed++;
      s = d.next;
    }
    expect(allowed).toBe(50);
    expect(s.remaining).toBe(0);
  });

  it("applies a refill that fell due before deciding, and keeps it even when the spend is refused", () => {
    const refill = { amount: 10 };
    const due: CreditState = { remaining: 0, refill, lastRefillAt: utc(2025, 6, 14, 23) };
    expect(decideUsage(due, 4, NOW)).toEqual({
      allowed: true,
      remaining: 6,
      next: { remaining: 6, refill, lastRefillAt: utc(2025, 6, 15) },
    });
    const refused = decideUsage(due, 11, NOW);
    expect(refused).toEqual({ allowed: false, remaining: 10, next: { remaining: 10, refill, lastRefillAt: utc(2025, 6, 15) } });
  });
});

describe("lastRefillBoundary", () => {
  it("daily: the UTC midnight at or before now", () => {
    expect(lastRefillBoundary({ amount: 1 }, utc(2025, 6, 15, 12))).toBe(utc(2025, 6, 15));
    expect(lastRefillBoundary({ amount: 1 }, utc(2025, 6, 15))).toBe(utc(2025, 6, 15));
    expect(lastRefillBoundary({ amount: 1 }, utc(2025, 6, 15) - 1)).toBe(utc(2025, 6, 14));
  });

  it("monthly: refillDay of this month once it has come, else of the previous month", () => {
    const r = { amount: 1, refillDay: 10 };
    expect(lastRefillBoundary(r, utc(2025, 6, 10))).toBe(utc(2025, 6, 10));
    expect(lastRefillBoundary(r, utc(2025, 6, 20))).toBe(utc(2025, 6, 10));
    expect(lastRefillBoundary(r, utc(2025, 6, 10) - 1)).toBe(utc(2025, 5, 10));
    // Across a year boundary.
    expect(lastRefillBoundary(r, utc(2026, 1, 5))).toBe(utc(2025, 12, 10));
  });

  it("refillDay 31 in April refills on the 30th", () => {
    const r = { amount: 1, refillDay: 31 };
    expect(lastRefillBoundary(r, utc(2025, 4, 30))).toBe(utc(2025, 4, 30));
    expect(lastRefillBoundary(r, utc(2025, 4, 30) - 1)).toBe(utc(2025, 3, 31));
    expect(lastRefillBoundary(r, utc(2025, 5, 1, 9))).toBe(utc(2025, 4, 30));
    expect(lastRefillBoundary(r, utc(2025, 5, 31))).toBe(utc(2025, 5, 31));
  });

  it("February: the 28th in a common year, the 29th in a leap year", () => {
    for (const refillDay of [29, 30, 31]) {
      expect(lastRefillBoundary({ amount: 1, refillDay }, utc(2025, 2, 28, 1))).toBe(utc(2025, 2, 28));
      expect(lastRefillBoundary({ amount: 1, refillDay }, utc(2025, 3, 1, 1))).toBe(utc(2025, 2, 28));
      expect(lastRefillBoundary({ amount: 1, refillDay }, utc(2024, 2, 28, 23))).toBe(utc(2024, 1, Math.min(refillDay, 31)));
      expect(lastRefillBoundary({ amount: 1, refillDay }, utc(2024, 2, 29, 1))).toBe(utc(2024, 2, 29));
    }
    expect(lastRefillBoundary({ amount: 1, refillDay: 28 }, utc(2024, 2, 29, 1))).toBe(utc(2024, 2, 28));
  });
});

describe("applyRefill", () => {
  it("a key without a refill never changes", () => {
    const s: CreditState = { remaining: 0, lastRefillAt: 0 };
    expect(applyRefill(s, NOW)).toBe(s);
  });

  it("daily: resets at the next UTC midnight, not before", () => {
    const created = utc(2025, 6, 15, 10);
    const s: CreditState = { remaining: 2, refill: { amount: 10 }, lastRefillAt: created };
    expect(applyRefill(s, utc(2025, 6, 15, 23, 59, 59, 999)).remaining).toBe(2);
    expect(applyRefill(s, utc(2025, 6, 16))).toEqual({ ...s, remaining: 10, lastRefillAt: utc(2025, 6, 16) });
  });

  it("after a refill, the same day does not refill again", () => {
    const s: CreditState = { remaining: 0, refill: { amount: 10 }, lastRefillAt: utc(2025, 6, 16) };
    expect(applyRefill(s, utc(2025, 6, 16, 20)).remaining).toBe(0);
  });

  it("monthly: refills on refillDay, not the day before", () => {
    const s: CreditState = { remaining: 1, refill: { amount: 100, refillDay: 5 }, lastRefillAt: utc(2025, 6, 5, 8) };
    expect(applyRefill(s, utc(2025, 7, 4, 23, 59)).remaining).toBe(1);
    expect(applyRefill(s, utc(2025, 7, 5))).toEqual({ ...s, remaining: 100, lastRefillAt: utc(2025, 7, 5) });
  });

  it("monthly refillDay 31 refills on 30 April and on 28/29 February", () => {
    const april: CreditState = { remaining: 0, refill: { amount: 7, refillDay: 31 }, lastRefillAt: utc(2025, 3, 31, 12) };
    expect(applyRefill(april, utc(2025, 4, 29, 23)).remaining).toBe(0);
    expect(applyRefill(april, utc(2025, 4, 30)).remaining).toBe(7);
    const feb: CreditState = { remaining: 0, refill: { amount: 7, refillDay: 31 }, lastRefillAt: utc(2024, 1, 31, 12) };
    expect(applyRefill(feb, utc(2024, 2, 28, 23)).remaining).toBe(0);
    expect(applyRefill(feb, utc(2024, 2, 29)).remaining).toBe(7);
    const commonFeb: CreditState = { ...feb, lastRefillAt: utc(2025, 1, 31, 12) };
    expect(applyRefill(commonFeb, utc(2025, 2, 27, 23)).remaining).toBe(0);
    expect(applyRefill(commonFeb, utc(2025, 2, 28)).remaining).toBe(7);
  });

  it("only raises the balance to amount, never lowers it", () => {
    const s: CreditState = { remaining: 25, refill: { amount: 10 }, lastRefillAt: utc(2025, 6, 14) };
    const r = applyRefill(s, NOW);
    expect(r.remaining).toBe(25);
    expect(r.lastRefillAt).toBe(utc(2025, 6, 15));
  });

  it("several missed boundaries are one refill (to amount, not amount × boundaries)", () => {
    const daily: CreditState = { remaining: 3, refill: { amount: 10 }, lastRefillAt: utc(2025, 1, 1) };
    expect(applyRefill(daily, NOW)).toEqual({ ...daily, remaining: 10, lastRefillAt: utc(2025, 6, 15) });
    const monthly: CreditState = { remaining: 3, refill: { amount: 10, refillDay: 1 }, lastRefillAt: utc(2024, 1, 1) };
    expect(applyRefill(monthly, NOW)).toEqual({ ...monthly, remaining: 10, lastRefillAt: utc(2025, 6, 1) });
  });
});

describe("applyCreditOperation", () => {
  const refill = { amount: 10 };
  const state: CreditState = { remaining: 4, refill, lastRefillAt: NOW - 1000 };

  it("set replaces the balance as of now and keeps the refill", () => {
    expect(applyCreditOperation(state, { operation: "set", value: 42 }, NOW)).toEqual({ remaining: 42, refill, lastRefillAt: NOW });
  });

  it("set on an unlimited key gives it a balance", () => {
    expect(applyCreditOperation(null, { operation: "set", value: 3 }, NOW)).toEqual({ remaining: 3, lastRefillAt: NOW });
  });

  it("set null makes the key unlimited (dropping the refill)", () => {
    expect(applyCreditOperation(state, { operation: "set", value: null }, NOW)).toBeNull();
  });

  it("increment adds, decrement subtracts and floors at 0", () => {
    expect(applyCreditOperation(state, { operation: "increment", value: 6 }, NOW)?.remaining).toBe(10);
    expect(applyCreditOperation(state, { operation: "decrement", value: 3 }, NOW)?.remaining).toBe(1);
    expect(applyCreditOperation(state, { operation: "decrement", value: 100 }, NOW)?.remaining).toBe(0);
  });

  it("increment and decrement apply a refill that fell due first", () => {
    const due: CreditState = { remaining: 0, refill, lastRefillAt: utc(2025, 6, 14) };
    expect(applyCreditOperation(due, { operation: "increment", value: 5 }, NOW)).toEqual({ remaining: 15, refill, lastRefillAt: utc(2025, 6, 15) });
    expect(applyCreditOperation(due, { operation: "decrement", value: 5 }, NOW)?.remaining).toBe(5);
  });

  it("increment or decrement on an unlimited key throws", () => {
    expect(() => applyCreditOperation(null, { operation: "increment", value: 1 }, NOW)).toThrow(RangeError);
    expect(() => applyCreditOperation(null, { operation: "decrement", value: 1 }, NOW)).toThrow(RangeError);
  });
});

describe("patchCredits", () => {
  const refill = { amount: 10, refillDay: 3 };
  const current: CreditState = { remaining: 4, refill, lastRefillAt: NOW - 5000 };

  it("null or remaining:null makes the key unlimited", () => {
    expect(patchCredits(current, null, NOW)).toBeNull();
    expect(patchCredits(current, { remaining: null }, NOW)).toBeNull();
    expect(patchCredits(null, null, NOW)).toBeNull();
  });

  it("a refill with remaining:null, or on a key that stays unlimited, is refused", () => {
    expect(() => patchCredits(current, { remaining: null, refill: { amount: 5 } }, NOW)).toThrow(RangeError);
    expect(() => patchCredits(null, { refill: { amount: 5 } }, NOW)).toThrow(RangeError);
  });

  it("a new remaining counts from now and keeps the refill", () => {
    expect(patchCredits(current, { remaining: 9 }, NOW)).toEqual({ remaining: 9, refill, lastRefillAt: NOW });
  });

  it("refill alone keeps the balance; the new schedule counts from now (no top-up at once)", () => {
    expect(patchCredits(current, { refill: { amount: 20 } }, NOW)).toEqual({ remaining: 4, refill: { amount: 20 }, lastRefillAt: NOW });
  });

  it("refill:null drops only the refill", () => {
    expect(patchCredits(current, { refill: null }, NOW)).toEqual({ remaining: 4, lastRefillAt: NOW });
  });

  it("an empty patch changes nothing; on an unlimited key it stays unlimited", () => {
    expect(patchCredits(current, {}, NOW)).toEqual(current);
    expect(patchCredits(null, {}, NOW)).toBeNull();
  });

  it("gives an unlimited key a balance (with a refill) counting from now", () => {
    expect(patchCredits(null, { remaining: 5, refill: { amount: 5 } }, NOW)).toEqual({ remaining: 5, refill: { amount: 5 }, lastRefillAt: NOW });
  });
});
