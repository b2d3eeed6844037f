import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { MAX_DURATION_MS } from "../../../src/lib/limiter-protocol";
import type { RatelimitMultiLimitResponse } from "../../../src/routes/v2/ratelimit.multiLimit";
import { DurableLimiterClient, type LimiterClient } from "../../../src/services/key-state-client";
import { BASE_URL, Harness, post } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.multiLimit";
const D = MAX_DURATION_MS; // one window for the whole test run

function uniqueName(prefix = "ns"): string {
  return `${prefix}.${crypto.randomUUID()}`;
}

async function createNamespace(h: Harness, name = uniqueName()): Promise<{ name: string; id: string }> {
  const res = await h.post("/v2/ratelimit.limit", { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const row = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(h.workspaceId, name).first<{ id: string }>();
  return { name, id: row!.id };
}

/** What is left for an identifier, read with a peek (cost 0) through ratelimit.limit. */
async function remaining(h: Harness, namespace: string, identifier: string, limit: number): Promise<number> {
  const res = await h.post("/v2/ratelimit.limit", { namespace, identifier, limit, duration: D, cost: 0 });
  return res.body.data.remaining;
}

describe("ratelimit.multiLimit", () => {
  describe("happy", () => {
    it("checks every limit and answers in request order, echoing namespace and identifier", async () => {
      const h = await Harness.init();
      const a = await createNamespace(h);
      const override = await h.post("/v2/ratelimit.setOverride", { namespace: a.id, identifier: "vip", limit: 9, duration: D });
      const newName = uniqueName();
      const body = [
        { namespace: a.name, identifier: "user_1", limit: 3, duration: D },
        { namespace: a.id, identifier: "vip", limit: 1, duration: D, cost: 2 },
        { namespace: newName, identifier: "user_1", limit: 5, duration: 60_000 },
      ];
      const res = await h.post<RatelimitMultiLimitResponse>(PATH, body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const windowEnd = (Math.floor(Date.now() / D) + 1) * D;
      expect(res.body.data.passed).toBe(true);
      expect(res.body.data.limits).toEqual([
        { namespace: a.name, identifier: "user_1", limit: 3, remaining: 2, reset: windowEnd, passed: true },
        { namespace: a.id, identifier: "vip", limit: 9, remaining: 7, reset: windowEnd, passed: true, overrideId: override.body.data.overrideId },
        { namespace: newName, identifier: "user_1", limit: 5, remaining: 4, reset: expect.any(Number), passed: true },
      ]);
      // The counts stay consumed, in the same windows ratelimit.limit uses.
      expect(await remaining(h, a.name, "user_1", 3)).toBe(2);
      expect(await remaining(h, a.name, "vip", 1)).toBe(7);
    });

    it("is all-or-nothing: when one limit refuses, the others are not charged", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      await h.post("/v2/ratelimit.limit", { namespace: ns.id, identifier: "full", limit: 1, duration: D });
      const body = [
        { namespace: ns.id, identifier: "free", limit: 5, duration: D, cost: 2 },
        { namespace: ns.id, identifier: "full", limit: 1, duration: D },
        { namespace: uniqueName(), identifier: "other", limit: 1, duration: D },
      ];
      const res = await h.post<RatelimitMultiLimitResponse>(PATH, body);
      expect(res.body.data.passed).toBe(false);
      expect(res.body.data.limits.map((l) => [l.identifier, l.passed, l.remaining])).toEqual([
        ["free", true, 5],
        ["full", false, 0],
        ["other", true, 1],
      ]);
      expect(await remaining(h, ns.id, "free", 5)).toBe(5);
      expect(await remaining(h, body[2]!.namespace, "other", 1)).toBe(1);
    });

    it("counts repeated checks of one identifier one after the other, all-or-nothing", async () => {
      const h = await Harness.init();
      const namespace = uniqueName();
      const twice = (limit: number) => [
        { namespace, identifier: "dup", limit, duration: D, cost: 2 },
        { namespace, identifier: "dup", limit, duration: D, cost: 2 },
      ];
      const refused = await h.post<RatelimitMultiLimitResponse>(PATH, twice(3));
      expect(refused.body.data.passed).toBe(false);
      expect(refused.body.data.limits.map((l) => [l.passed, l.remaining])).toEqual([
        [true, 3],
        [false, 3],
      ]);
      expect(await remaining(h, namespace, "dup", 3)).toBe(3);
      const admitted = await h.post<RatelimitMultiLimitResponse>(PATH, twice(4));
      expect(admitted.body.data.passed).toBe(true);
      expect(admitted.body.data.limits.map((l) => l.remaining)).toEqual([2, 0]);
    });

    it("under hundreds of concurrent calls admits exactly N and leaves exactly N charged on the other limit", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const N = 13;
      const body = [
        { namespace: ns.id, identifier: "tight", limit: N, duration: D },
        { namespace: ns.id, identifier: "loose", limit: 1000, duration: D },
      ];
      const replies = await Promise.all(Array.from({ length: 150 }, () => post<RatelimitMultiLimitResponse>(PATH, body, h.rootKey)));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      expect(replies.filter((r) => r.body.data.passed)).toHaveLength(N);
      expect(await remaining(h, ns.id, "tight", N)).toBe(0);
      // Every refused call gave its "loose" token back.
      expect(await remaining(h, ns.id, "loose", 1000)).toBe(1000 - N);
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const namespace = uniqueName("sdk");
      const res = await h.sdk().ratelimit.multiLimit([
        { namespace, identifier: "a", limit: 2, duration: 60_000 },
        { namespace, identifier: "b", limit: 1, duration: 60_000, cost: 1 },
      ]);
      expect(res.data.passed).toBe(true);
      expect(res.data.limits.map((l) => [l.identifier, l.remaining])).toEqual([
        ["a", 1],
        ["b", 0],
      ]);
    });
  });

  describe("errors", () => {
    it("400 for a body that is not an array of 1..100 valid checks, naming the element", async () => {
      const h = await Harness.init();
      const ok = { namespace: "ns", identifier: "x", limit: 1, duration: 1000 };
      const cases: Array<[unknown, string]> = [
        [[], "body"],
        [Array.from({ length: 101 }, () => ok), "body"],
        [ok, "body"],
        [[ok, { ...ok, extra: 1 }], "body[1].extra"],
        [[ok, { ...ok, limit: 0 }], "body[1].limit"],
        [[{ ...ok, duration: MAX_DURATION_MS + 1 }], "body[0].duration"],
        [[{ ...ok, cost: -1 }], "body[0].cost"],
        [[{ identifier: "x", limit: 1, duration: 1000 }], "body[0].namespace"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("404 when one namespace id is unknown, and nothing else is counted", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const res = await h.post(PATH, [
        { namespace: ns.id, identifier: "x", limit: 1, duration: D },
        { namespace: "rlns_doesNotExist000000", identifier: "x", limit: 1, duration: D },
      ]);
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
      expect(await remaining(h, ns.id, "x", 1)).toBe(1);
    });

    it("403 unless the key may limit in every namespace named, and nothing is counted", async () => {
      const h = await Harness.init();
      const a = await createNamespace(h);
      const b = await createNamespace(h);
      const body = [
        { namespace: a.id, identifier: "x", limit: 1, duration: D },
        { namespace: b.id, identifier: "x", limit: 1, duration: D },
      ];
      const onlyA = await h.createRootKey([`ratelimit.${a.id}.limit`]);
      const res = await h.post(PATH, body, { key: onlyA });
      expect(res.status).toBe(403);
      expect(await remaining(h, a.id, "x", 1)).toBe(1);
      const both = await h.createRootKey([`ratelimit.${a.id}.limit`, `ratelimit.${b.id}.limit`]);
      expect((await h.post(PATH, body, { key: both })).status).toBe(200);
    });

    it("503 when one limiter object fails, after giving back what the others took", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const flaky = (e: Env): LimiterClient => {
        const real = new DurableLimiterClient(e.LIMITER);
        return {
          limit: (object, input) => (object.endsWith(":broken") ? Promise.reject(new Error("object unreachable")) : real.limit(object, input)),
          refund: (object, input) => real.refund(object, input),
        };
      };
      const app = createApp({ limiter: flaky });
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(BASE_URL + PATH, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${h.rootKey}` },
          body: JSON.stringify([
            { namespace: ns.id, identifier: "fine", limit: 1, duration: D },
            { namespace: ns.id, identifier: "broken", limit: 1, duration: D },
          ]),
        }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).error.type).toBe("https://unkey.com/docs/errors/unkey/application/service_unavailable");
      expect(await remaining(h, ns.id, "fine", 1)).toBe(1);
    });
  });

  describeSecurity({
    operation: "ratelimit.multiLimit",
    setup: async (h) => {
      const ns = await createNamespace(h);
      return { body: [{ namespace: ns.id, identifier: "user_1", limit: 10, duration: 60_000 }], apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.limit`],
    missing: () => [{ namespace: "rlns_doesNotExist000000", identifier: "user_1", limit: 10, duration: 60_000 }],
  });
});
