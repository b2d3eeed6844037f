/**
 * The record store's own invariants, driven directly with real D1 and KV: the back-fill race is closed by
 * the delayed second publish, failed KV writes are retried, and garbage in KV is treated as a miss.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { hashKey } from "../../src/lib/hash";
import { recordCache } from "../../src/services/cache";
import { EdgeRecords, kvKey } from "../../src/services/edge-records";
import { Harness } from "../harness";

function store(opts: { republishDelayMs?: number; kv?: KVNamespace } = {}) {
  const pending: Promise<unknown>[] = [];
  const edge = new EdgeRecords({
    db: createDb(env.DB),
    kv: opts.kv ?? env.EDGE,
    cacheTtlMs: 5000,
    republishDelayMs: opts.republishDelayMs ?? 0,
    now: () => Date.now(),
    waitUntil: (p) => void pending.push(p),
  });
  return { edge, settle: () => Promise.all(pending) };
}

describe("EdgeRecords", () => {
  it("a back-fill that lands after a revoke is overwritten by the delayed second publish", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    const hash = await hashKey(key);
    const stale = await env.EDGE.get(kvKey(hash)); // the live record, as a racing verify read it from D1

    await env.DB.prepare("UPDATE keys SET deleted_at = ?, revision = revision + 1 WHERE id = ?").bind(Date.now(), keyId).run();
    const { edge, settle } = store({ republishDelayMs: 50 });
    expect(await edge.publish(hash)).toBeNull();
    await env.EDGE.put(kvKey(hash), stale!, { expirationTtl: 60 }); // the racing back-fill lands late
    await settle(); // the second publish writes what D1 holds then

    expect(JSON.parse((await env.EDGE.get(kvKey(hash)))!)).toMatchObject({ v: 1, tombstone: true });
    recordCache(5000).clear();
    expect((await h.verify(key)).code).toBe("NOT_FOUND");
  });

  it("retries a failed KV write, and logs (without failing the committed change) when KV keeps failing", async () => {
    const h = await Harness.init();
    const { key } = await h.createKey();
    const hash = await hashKey(key);
    let failures = 1;
    const flaky = {
      get: env.EDGE.get.bind(env.EDGE),
      put: (...args: Parameters<KVNamespace["put"]>) => (failures-- > 0 ? Promise.reject(new Error("429 too many writes")) : env.EDGE.put(...args)),
    } as unknown as KVNamespace;
    expect(await store({ kv: flaky }).edge.publish(hash)).toMatchObject({ enabled: true });

    let attempts = 0;
    const broken = {
      get: env.EDGE.get.bind(env.EDGE),
      put: () => {
        attempts++;
        return Promise.reject(new Error("KV down"));
      },
    } as unknown as KVNamespace;
    expect(await store({ kv: broken }).edge.publish(hash)).toMatchObject({ enabled: true });
    expect(attempts).toBe(3);
  });

  it("treats an unreadable KV value as a miss and reloads the truth from D1", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    const hash = await hashKey(key);
    for (const garbage of ['{"v":2}', "[]", '{"v":1,"record":{"keyId":1}}', '"text"']) {
      await env.EDGE.put(kvKey(hash), garbage);
      recordCache(5000).clear();
      const { edge, settle } = store();
      expect(await edge.lookup(hash)).toMatchObject({ keyId, enabled: true });
      await settle();
      expect(JSON.parse((await env.EDGE.get(kvKey(hash)))!)).toMatchObject({ v: 1, record: { keyId } });
    }
  });

  it("never writes an unknown key to KV, and caches the miss on the isolate only", async () => {
    const { edge, settle } = store();
    const hash = await hashKey(`unknown_${crypto.randomUUID()}`);
    expect(await edge.lookup(hash)).toBeNull();
    await settle();
    expect(await env.EDGE.get(kvKey(hash))).toBeNull();
    expect(recordCache(5000).get(hash, Date.now())).toEqual({ value: null });
  });
});

describe("EdgeRecords reads", () => {
  it("a KV read that fails or holds non-JSON text falls back to D1", async () => {
    const h = await Harness.init();
    const { keyId, key } = await h.createKey();
    const hash = await hashKey(key);
    await env.EDGE.put(kvKey(hash), "{not json");
    recordCache(5000).clear();
    expect(await store().edge.lookup(hash)).toMatchObject({ keyId });
    const failing = { get: () => Promise.reject(new Error("KV unavailable")), put: env.EDGE.put.bind(env.EDGE) } as unknown as KVNamespace;
    recordCache(5000).clear();
    expect(await store({ kv: failing }).edge.lookup(hash)).toMatchObject({ keyId });
  });
});
