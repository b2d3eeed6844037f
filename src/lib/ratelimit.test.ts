import { describe, expect, it } from "vitest";
import { decideAll, decideLimit, effectiveCount, pruneWindows, refund, slide, type WindowState } from "./ratelimit";

const D = 60_000;
/** The start of a fixed window: `seq = 28_000_000`. */
const T0 = 28_000_000 * D;
const SEQ = T0 / D;

function w(overrides: Partial<WindowState> = {}): WindowState {
  return { duration: D, seq: SEQ, current: 0, previous: 0, ...overrides };
}

describe("slide", () => {
  it("starts a fresh window when there is no state", () => {
    expect(slide(undefined, D, T0 + 5)).toEqual(w());
  });

  it("keeps the state within the same fixed window", () => {
    const state = w({ current: 3, previous: 2 });
    expect(slide(state, D, T0)).toBe(state);
    expect(slide(state, D, T0 + D - 1)).toBe(state);
  });

  it("rolls over into the next window: previous = old current, current = 0", () => {
    expect(slide(w({ current: 7, previous: 4 }), D, T0 + D)).toEqual(w({ seq: SEQ + 1, current: 0, previous: 7 }));
    expect(slide(w({ current: 7 }), D, T0 + 2 * D - 1)).toEqual(w({ seq: SEQ + 1, current: 0, previous: 7 }));
  });

  it("forgets everything once a whole window has passed without requests", () => {
    expect(slide(w({ current: 7, previous: 4 }), D, T0 + 2 * D)).toEqual(w({ seq: SEQ + 2 }));
  });

  it("starts over when the limit's duration changed", () => {
    expect(slide(w({ current: 7 }), 2 * D, T0 + 1)).toEqual({ duration: 2 * D, seq: Math.floor((T0 + 1) / (2 * D)), current: 0, previous: 0 });
  });

  it("keeps counting in a window from the future (the clock went back) instead of forgetting it", () => {
    const future = w({ seq: SEQ + 3, current: 5 });
    expect(slide(future, D, T0)).toBe(future);
  });
});

describe("effectiveCount", () => {
  it("weights the previous window by how much of it still overlaps the sliding window", () => {
    const state = w({ current: 2, previous: 8 });
    expect(effectiveCount(state, T0)).toBe(10);
    expect(effectiveCount(state, T0 + D / 4)).toBe(2 + 8 * 0.75);
    expect(effectiveCount(state, T0 + D / 2)).toBe(6);
    expect(effectiveCount(state, T0 + D)).toBe(2);
  });
});

describe("decideLimit", () => {
  const req = { limit: 3, duration: D, cost: 1 };

  it("admits exactly `limit` requests within one fixed window, then refuses", () => {
    let state: WindowState | undefined;
    const outcomes: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const d = decideLimit(state, req, T0 + i);
      outcomes.push(d.passed);
      if (d.passed) state = d.next;
    }
    expect(outcomes).toEqual([true, true, true, false, false]);
    expect(state).toEqual(w({ current: 3 }));
  });

  it("reports what is left after the request and reset = the end of the current fixed window", () => {
    const first = decideLimit(undefined, req, T0 + 10);
    expect(first).toMatchObject({ passed: true, limit: 3, remaining: 2, reset: T0 + D });
    const refused = decideLimit(w({ current: 3 }), req, T0 + D - 1);
    expect(refused).toMatchObject({ passed: false, limit: 3, remaining: 0, reset: T0 + D });
    // A refusal consumes nothing.
    expect(refused.next).toEqual(w({ current: 3 }));
  });

  it("rolls over at the window boundary, counting the previous window weighted", () => {
    const full = w({ current: 3 });
    // At the boundary the whole previous window still counts.
    expect(decideLimit(full, req, T0 + D).passed).toBe(false);
    // Two thirds in, a third of the previous window's 3 requests (1) counts: 1 + 1 <= 3.
    const later = decideLimit(full, req, T0 + D + (2 * D) / 3);
    expect(later.passed).toBe(true);
    expect(later.next).toEqual(w({ seq: SEQ + 1, current: 1, previous: 3 }));
    expect(later.reset).toBe(T0 + 2 * D);
    // After a whole idle window, the count is fresh.
    expect(decideLimit(full, req, T0 + 2 * D)).toMatchObject({ passed: true, remaining: 2 });
  });

  it("floors a fractional remaining and never reports less than 0", () => {
    // previous 5 at half the window = 2.5; + cost 1 = 3.5 used of 10 → 6.5 left → 6.
    const d = decideLimit(w({ seq: SEQ - 1, current: 5 }), { limit: 10, duration: D, cost: 1 }, T0 + D / 2);
    expect(d).toMatchObject({ passed: true, remaining: 6 });
    // A limit lowered below what was already used: still 0, not negative.
    const lowered = decideLimit(w({ current: 8 }), { limit: 3, duration: D, cost: 0 }, T0);
    expect(lowered.remaining).toBe(0);
  });

  it("cost 0 is a peek: it passes even when exhausted and consumes nothing", () => {
    const exhausted = w({ current: 3 });
    const peek = decideLimit(exhausted, { ...req, cost: 0 }, T0 + 5);
    expect(peek).toMatchObject({ passed: true, remaining: 0 });
    expect(peek.next).toEqual(exhausted);
    const fresh = decideLimit(undefined, { ...req, cost: 0 }, T0);
    expect(fresh).toMatchObject({ passed: true, remaining: 3 });
    expect(fresh.next.current).toBe(0);
  });

  it("a cost larger than what is left is refused as a whole (no partial consumption)", () => {
    const d = decideLimit(w({ current: 1 }), { limit: 3, duration: D, cost: 3 }, T0);
    expect(d).toMatchObject({ passed: false, remaining: 2 });
    expect(d.next.current).toBe(1);
    expect(decideLimit(w({ current: 1 }), { limit: 3, duration: D, cost: 2 }, T0)).toMatchObject({ passed: true, remaining: 0 });
  });

  it("a limit of 0 refuses every request that costs something", () => {
    expect(decideLimit(undefined, { limit: 0, duration: D, cost: 1 }, T0).passed).toBe(false);
  });
});

describe("decideAll", () => {
  const limits = [
    { name: "a", limit: 5, duration: D, cost: 1 },
    { name: "b", limit: 2, duration: D, cost: 1 },
  ];

  it("consumes from every limit when all pass", () => {
    const r = decideAll({}, limits, T0);
    expect(r.passed).toBe(true);
    expect(r.windows).toEqual({ a: w({ current: 1 }), b: w({ current: 1 }) });
    expect(r.results.map((x) => [x.name, x.passed, x.remaining])).toEqual([
      ["a", true, 4],
      ["b", true, 1],
    ]);
  });

  it("is all-or-nothing: one refusal consumes nothing anywhere, and a passing limit reports what is left now", () => {
    const windows = { a: w({ current: 1 }), b: w({ current: 2 }) };
    const r = decideAll(windows, limits, T0 + 1);
    expect(r.passed).toBe(false);
    expect(r.windows).toEqual(windows);
    expect(r.results.map((x) => [x.name, x.passed, x.remaining])).toEqual([
      ["a", true, 4], // 5 - 1 already used; this request took nothing
      ["b", false, 0],
    ]);
  });

  it("keeps windows of limits not in the request untouched", () => {
    const other = w({ duration: 1000, seq: T0 / 1000, current: 9 });
    const r = decideAll({ other }, [limits[0]!], T0);
    expect(r.windows.other).toBe(other);
    expect(r.windows.a).toEqual(w({ current: 1 }));
  });

  it("with no limits passes and changes nothing", () => {
    const windows = { a: w({ current: 1 }) };
    expect(decideAll(windows, [], T0)).toEqual({ passed: true, results: [], windows });
  });

  it("never admits more than the limit over many sequential requests", () => {
    let windows: Record<string, WindowState> = {};
    let admitted = 0;
    for (let i = 0; i < 50; i++) {
      const r = decideAll(windows, limits, T0 + i);
      if (r.passed) {
        admitted++;
        windows = r.windows;
      }
    }
    expect(admitted).toBe(2);
    expect(windows.a?.current).toBe(2);
  });
});

describe("refund", () => {
  it("gives tokens back within the window they were taken from, flooring at 0", () => {
    expect(refund(w({ current: 3 }), 2, D, T0 + 5)).toEqual(w({ current: 1 }));
    expect(refund(w({ current: 1 }), 5, D, T0 + 5)).toEqual(w({ current: 0 }));
  });

  it("after one roll-over the tokens are in previous and come out of it", () => {
    expect(refund(w({ seq: SEQ + 1, current: 1, previous: 3 }), 2, D, T0)).toEqual(w({ seq: SEQ + 1, current: 1, previous: 1 }));
  });

  it("after two roll-overs the tokens have aged out: nothing changes", () => {
    const later = w({ seq: SEQ + 2, current: 1, previous: 0 });
    expect(refund(later, 2, D, T0)).toEqual(later);
  });

  it("of a window that never existed is nothing", () => {
    expect(refund(undefined, 1, D, T0)).toBeUndefined();
  });
});

describe("pruneWindows", () => {
  it("drops windows older than their previous window and keeps the rest", () => {
    const windows = {
      current: w({ current: 1 }),
      previous: w({ seq: SEQ - 1, current: 1 }),
      stale: w({ seq: SEQ - 2, current: 1 }),
      shortStale: { duration: 1000, seq: T0 / 1000 - 5, current: 1, previous: 0 },
    };
    expect(Object.keys(pruneWindows(windows, T0 + 1)).sort()).toEqual(["current", "previous"]);
  });
});
