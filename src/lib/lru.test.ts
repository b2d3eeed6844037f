import { describe, expect, it } from "vitest";
import { TtlLru } from "./lru";

describe("TtlLru", () => {
  it("returns an entry until its TTL has passed", () => {
    const c = new TtlLru<string>(10, 100);
    c.set("a", "A", 1000);
    expect(c.get("a", 1000)).toEqual({ value: "A" });
    expect(c.get("a", 1099)).toEqual({ value: "A" });
    expect(c.get("a", 1100)).toBeUndefined();
    // An expired entry is dropped on read.
    expect(c.size).toBe(0);
  });

  it("honours a per-call TTL over the default", () => {
    const c = new TtlLru<string>(10, 100);
    c.set("short", "S", 0, 10);
    c.set("long", "L", 0, 1000);
    expect(c.get("short", 10)).toBeUndefined();
    expect(c.get("long", 500)).toEqual({ value: "L" });
  });

  it("does not extend the TTL on read", () => {
    const c = new TtlLru<string>(10, 100);
    c.set("a", "A", 0);
    expect(c.get("a", 90)).toEqual({ value: "A" });
    expect(c.get("a", 100)).toBeUndefined();
  });

  it("restarts the TTL when an entry is set again", () => {
    const c = new TtlLru<string>(10, 100);
    c.set("a", "old", 0);
    c.set("a", "new", 50);
    expect(c.get("a", 120)).toEqual({ value: "new" });
    expect(c.size).toBe(1);
  });

  it("evicts the least recently set entry when full", () => {
    const c = new TtlLru<number>(3, 1000);
    c.set("a", 1, 0);
    c.set("b", 2, 0);
    c.set("c", 3, 0);
    c.set("d", 4, 0);
    expect(c.size).toBe(3);
    expect(c.get("a", 1)).toBeUndefined();
    expect(c.get("b", 1)).toEqual({ value: 2 });
    expect(c.get("c", 1)).toEqual({ value: 3 });
    expect(c.get("d", 1)).toEqual({ value: 4 });
  });

  it("does not move an entry on read: eviction follows insertion order", () => {
    const c = new TtlLru<number>(3, 1000);
    c.set("a", 1, 0);
    c.set("b", 2, 0);
    c.set("c", 3, 0);
    expect(c.get("a", 1)).toEqual({ value: 1 });
    c.set("d", 4, 2);
    // "a" was read, but it was inserted first, so it goes first.
    expect(c.get("a", 3)).toBeUndefined();
    expect(c.get("b", 3)).toEqual({ value: 2 });
    expect(c.get("d", 3)).toEqual({ value: 4 });
  });

  it("re-setting an entry makes it the most recent", () => {
    const c = new TtlLru<number>(2, 1000);
    c.set("a", 1, 0);
    c.set("b", 2, 0);
    c.set("a", 10, 1);
    c.set("c", 3, 2);
    expect(c.get("b", 3)).toBeUndefined();
    expect(c.get("a", 3)).toEqual({ value: 10 });
    expect(c.get("c", 3)).toEqual({ value: 3 });
  });

  it("keeps a cached null distinguishable from a miss", () => {
    const c = new TtlLru<string | null>(10, 100);
    c.set("neg", null, 0);
    const hit = c.get("neg", 1);
    expect(hit).toBeDefined();
    expect(hit).toEqual({ value: null });
    expect(c.get("missing", 1)).toBeUndefined();
    expect(c.get("neg", 100)).toBeUndefined();
  });

  it("stores nothing with a TTL of 0 (default or per call) or below", () => {
    const zero = new TtlLru<string>(10, 0);
    zero.set("a", "A", 0);
    expect(zero.get("a", 0)).toBeUndefined();
    expect(zero.size).toBe(0);

    const c = new TtlLru<string>(10, 100);
    c.set("b", "B", 0, 0);
    c.set("c", "C", 0, -5);
    expect(c.get("b", 0)).toBeUndefined();
    expect(c.get("c", 0)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it("delete removes one entry and clear removes all", () => {
    const c = new TtlLru<number>(10, 100);
    c.set("a", 1, 0);
    c.set("b", 2, 0);
    c.set("c", 3, 0);
    c.delete("b");
    c.delete("not-there");
    expect(c.get("b", 1)).toBeUndefined();
    expect(c.get("a", 1)).toEqual({ value: 1 });
    expect(c.size).toBe(2);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get("a", 1)).toBeUndefined();
    expect(c.get("c", 1)).toBeUndefined();
  });
});
