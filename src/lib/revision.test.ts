import { describe, expect, it } from "vitest";
import { decideRevision } from "./revision";

describe("decideRevision", () => {
  it("is stale when the caller's record is older than what the object knows", () => {
    expect(decideRevision(5, 3)).toEqual({ stale: true, next: 5 });
    expect(decideRevision(1, 0)).toEqual({ stale: true, next: 1 });
  });

  it("is fresh when the caller's record is as new as the object's", () => {
    expect(decideRevision(3, 3)).toEqual({ stale: false, next: 3 });
    expect(decideRevision(0, 0)).toEqual({ stale: false, next: 0 });
  });

  it("is fresh and advances the object when the caller's record is newer", () => {
    expect(decideRevision(3, 5)).toEqual({ stale: false, next: 5 });
    expect(decideRevision(0, 1)).toEqual({ stale: false, next: 1 });
  });

  it("never moves the revision backwards", () => {
    for (const [stored, seen] of [[0, 0], [2, 9], [9, 2], [100, 99]] as const) {
      const { next } = decideRevision(stored, seen);
      expect(next).toBeGreaterThanOrEqual(stored);
      expect(next).toBeGreaterThanOrEqual(seen);
    }
  });
});
