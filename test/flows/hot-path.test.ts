/**
 * The hot path's I/O, counted (src/services/metrics.ts): a warm verify does no D1 query, no KV read and no
 * Durable Object call; a cold one reads KV once (and D1 only when KV misses); a verify with key limits makes
 * exactly one Durable Object call.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/lib/hash";
import { recordCache } from "../../src/services/cache";
import { kvKey } from "../../src/services/edge-records";
import { ioCounters, resetIoCounters } from "../../src/services/metrics";
import { Harness } from "../harness";

const cold = () => recordCache(5000).clear();

async function counted(fn: () => Promise<unknown>) {
  resetIoCounters();
  await fn();
  return { ...ioCounters };
}

describe("verify hot path I/O", () => {
  it("a warm verify of a key without limits or credits does no I/O at all", async () => {
    const h = await Harness.init();
    const { key } = await h.createKey();
    expect((await h.verify(key)).code).toBe("VALID"); // warms the root key and the key
    const warm = await counted(() => h.verify(key));
    expect(warm).toMatchObject({ d1Queries: 0, kvReads: 0, kvWrites: 0, durableObjectCalls: 0 });
  });

  it("a cold verify reads KV once, and D1 only when KV misses", async () => {
    const h = await Harness.init();
    const { key } = await h.createKey();
    expect((await h.verify(key)).code).toBe("VALID");
    await vi.waitFor(async () => expect(await env.EDGE.get(kvKey(await hashKey(key)))).not.toBeNull(), { timeout: 5000, interval: 20 });

    cold();
    // The root key's record is cold too: two lookups, each one KV read, no D1.
    const fromKv = await counted(() => h.verify(key));
    expect(fromKv).toMatchObject({ kvReads: 2, d1Queries: 0, durableObjectCalls: 0 });

    await env.EDGE.delete(kvKey(await hashKey(key)));
    cold();
    const fromD1 = await counted(() => h.verify(key));
    expect(fromD1).toMatchObject({ kvReads: 2, d1Queries: 1, durableObjectCalls: 0 });
  });

  it("a verify with key limits or credits makes exactly one Durable Object call", async () => {
    const h = await Harness.init();
    const limited = await h.createKey({ ratelimits: [{ name: "rps", limit: 100, duration: 60_000, autoApply: true }] });
    const metered = await h.createKey({ credits: { remaining: 100 } });
    for (const { key } of [limited, metered]) {
      expect((await h.verify(key)).code).toBe("VALID");
      const warm = await counted(() => h.verify(key));
      expect(warm).toMatchObject({ d1Queries: 0, kvReads: 0, durableObjectCalls: 1 });
    }
  });

  it("an unknown key is answered from D1 once, then from the isolate's negative cache", async () => {
    const h = await Harness.init();
    await h.createKey(); // warms the root key
    const unknown = `sk_${crypto.randomUUID().replace(/-/g, "")}`;
    const first = await counted(() => h.verify(unknown));
    expect(first).toMatchObject({ kvReads: 1, d1Queries: 1, kvWrites: 0 });
    const again = await counted(() => h.verify(unknown));
    expect(again).toMatchObject({ kvReads: 0, d1Queries: 0, kvWrites: 0 });
  });
});
