import * as errors from "@unkey/api/models/errors";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { MAX_DURATION_MS } from "../../../src/lib/limiter-protocol";
import type { RatelimitLimitResponse } from "../../../src/routes/v2/ratelimit.limit";
import type { LimiterClient } from "../../../src/services/key-state-client";
import { BASE_URL, Harness, post } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/ratelimit.limit";

function uniqueName(prefix = "ns"): string {
  return `${prefix}.${crypto.randomUUID()}`;
}

async function namespaceRows(workspaceId: string, name: string): Promise<Array<{ id: string }>> {
  const { results } = await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = ?").bind(workspaceId, name).all<{ id: string }>();
  return results;
}

/** Creates a namespace by using it (a peek, so nothing is counted) and returns its name and id. */
async function createNamespace(h: Harness, name = uniqueName()): Promise<{ name: string; id: string }> {
  const res = await h.post(PATH, { namespace: name, identifier: "setup", limit: 1, duration: 60_000, cost: 0 });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const [row] = await namespaceRows(h.workspaceId, name);
  return { name, id: row!.id };
}

/** Calls an app built with test overrides (a fake clock, a failing limiter) the way the runtime would. */
async function callApp(app: ReturnType<typeof createApp>, body: unknown, key: string, path = PATH): Promise<{ status: number; body: any }> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(BASE_URL + path, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: await res.json() };
}

describe("ratelimit.limit", () => {
  describe("happy", () => {
    it("creates an unknown namespace on first use and counts down to a refusal", async () => {
      const h = await Harness.init();
      const namespace = uniqueName();
      const body = { namespace, identifier: "user_1", limit: 3, duration: MAX_DURATION_MS };
      const seen: Array<RatelimitLimitResponse["data"]> = [];
      for (let i = 0; i < 4; i++) {
        const res = await h.post<RatelimitLimitResponse>(PATH, body);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(res.body.meta.requestId).toMatch(/^req_/);
        seen.push(res.body.data);
      }
      expect(seen.map((d) => [d.success, d.remaining])).toEqual([
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
      ]);
      const windowEnd = (Math.floor(Date.now() / MAX_DURATION_MS) + 1) * MAX_DURATION_MS;
      for (const d of seen) {
        expect(d.limit).toBe(3);
        expect(d.reset).toBe(windowEnd);
        expect(Object.keys(d).sort()).toEqual(["limit", "remaining", "reset", "success"]);
      }
      const rows = await namespaceRows(h.workspaceId, namespace);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.id).toMatch(/^rlns_/);
    });

    it("finds the namespace by id as well as by name, counting in the same window", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const base = { identifier: "user_1", limit: 2, duration: MAX_DURATION_MS };
      expect((await h.post(PATH, { ...base, namespace: ns.name })).body.data).toMatchObject({ success: true, remaining: 1 });
      expect((await h.post(PATH, { ...base, namespace: ns.id })).body.data).toMatchObject({ success: true, remaining: 0 });
      expect((await h.post(PATH, { ...base, namespace: ns.name })).body.data).toMatchObject({ success: false, remaining: 0 });
      expect(await namespaceRows(h.workspaceId, ns.id)).toHaveLength(0); // no namespace called "rlns_…"
    });

    it("counts each identifier, namespace and workspace separately", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const namespace = uniqueName();
      const body = { namespace, identifier: "user_1", limit: 1, duration: MAX_DURATION_MS };
      expect((await h.post(PATH, body)).body.data.success).toBe(true);
      expect((await h.post(PATH, body)).body.data.success).toBe(false);
      expect((await h.post(PATH, { ...body, identifier: "user_2" })).body.data.success).toBe(true);
      expect((await h.post(PATH, { ...body, namespace: uniqueName() })).body.data.success).toBe(true);
      // The same namespace name in another workspace is another namespace with its own counters.
      expect((await other.post(PATH, body)).body.data.success).toBe(true);
    });

    it("charges cost tokens, refuses a cost that does not fit without charging it, and peeks with cost 0", async () => {
      const h = await Harness.init();
      const base = { namespace: uniqueName(), identifier: "user_1", limit: 5, duration: MAX_DURATION_MS };
      expect((await h.post(PATH, { ...base, cost: 3 })).body.data).toMatchObject({ success: true, remaining: 2 });
      expect((await h.post(PATH, { ...base, cost: 3 })).body.data).toMatchObject({ success: false, remaining: 2 });
      expect((await h.post(PATH, { ...base, cost: 0 })).body.data).toMatchObject({ success: true, remaining: 2 });
      expect((await h.post(PATH, { ...base, cost: 2 })).body.data).toMatchObject({ success: true, remaining: 0 });
      expect((await h.post(PATH, { ...base, cost: 0 })).body.data).toMatchObject({ success: true, remaining: 0 });
      expect((await h.post(PATH, base)).body.data).toMatchObject({ success: false, remaining: 0 });
    });

    it("counts calls with different durations in separate windows, as Unkey does", async () => {
      const h = await Harness.init();
      const base = { namespace: uniqueName(), identifier: "user_1", limit: 1 };
      expect((await h.post(PATH, { ...base, duration: MAX_DURATION_MS })).body.data.success).toBe(true);
      expect((await h.post(PATH, { ...base, duration: MAX_DURATION_MS - 1000 })).body.data.success).toBe(true);
      expect((await h.post(PATH, { ...base, duration: MAX_DURATION_MS })).body.data.success).toBe(false);
    });

    it("applies an override's limit and duration and reports its id; deleting it restores the request's limit", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const set = await h.post("/v2/ratelimit.setOverride", { namespace: ns.name, identifier: "vip_*", limit: 3, duration: MAX_DURATION_MS });
      const overrideId = set.body.data.overrideId;
      const body = { namespace: ns.name, identifier: "vip_1", limit: 1, duration: 60_000 };
      const first = await h.post<RatelimitLimitResponse>(PATH, body);
      expect(first.body.data).toEqual({
        limit: 3,
        remaining: 2,
        reset: (Math.floor(Date.now() / MAX_DURATION_MS) + 1) * MAX_DURATION_MS,
        success: true,
        overrideId,
      });
      // Not matched: the request's own limit, and no overrideId.
      const plain = await h.post<RatelimitLimitResponse>(PATH, { ...body, identifier: "user_1" });
      expect(plain.body.data.limit).toBe(1);
      expect(plain.body.data).not.toHaveProperty("overrideId");

      await h.post("/v2/ratelimit.deleteOverride", { namespace: ns.name, identifier: "vip_*" });
      const after = await h.post<RatelimitLimitResponse>(PATH, body);
      expect(after.body.data.limit).toBe(1);
      expect(after.body.data).not.toHaveProperty("overrideId");
    });

    it("picks the exact override first, then the most specific pattern; an override of 0 blocks", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const set = async (identifier: string, limit: number) =>
        (await h.post("/v2/ratelimit.setOverride", { namespace: ns.id, identifier, limit, duration: MAX_DURATION_MS })).body.data.overrideId as string;
      const star = await set("*", 10);
      const user = await set("user_*", 20);
      const premium = await set("user_premium_*", 30);
      const exact = await set("user_premium_7", 40);
      const blocked = await set("bot_*", 0);
      const limitFor = async (identifier: string) =>
        (await h.post<RatelimitLimitResponse>(PATH, { namespace: ns.name, identifier, limit: 1, duration: 60_000, cost: 0 })).body.data;
      expect(await limitFor("user_premium_7")).toMatchObject({ limit: 40, overrideId: exact });
      expect(await limitFor("user_premium_8")).toMatchObject({ limit: 30, overrideId: premium });
      expect(await limitFor("user_basic")).toMatchObject({ limit: 20, overrideId: user });
      expect(await limitFor("someone")).toMatchObject({ limit: 10, overrideId: star });
      const bot = await h.post<RatelimitLimitResponse>(PATH, { namespace: ns.name, identifier: "bot_1", limit: 100, duration: 60_000 });
      expect(bot.body.data).toMatchObject({ success: false, limit: 0, remaining: 0, overrideId: blocked });
    });

    it("treats regex characters in patterns and identifiers literally", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      await h.post("/v2/ratelimit.setOverride", { namespace: ns.id, identifier: "a.b(*)[x]", limit: 7, duration: 60_000 });
      const hit = await h.post(PATH, { namespace: ns.id, identifier: "a.b(anything)[x]", limit: 1, duration: 60_000, cost: 0 });
      expect(hit.body.data.limit).toBe(7);
      const miss = await h.post(PATH, { namespace: ns.id, identifier: "aXb(anything)[x]", limit: 1, duration: 60_000, cost: 0 });
      expect(miss.body.data.limit).toBe(1);
    });

    it("admits exactly N of hundreds of concurrent requests, including the namespace's first use", async () => {
      const h = await Harness.init();
      const namespace = uniqueName("burst");
      const N = 37;
      const body = { namespace, identifier: "user_1", limit: N, duration: MAX_DURATION_MS };
      const replies = await Promise.all(Array.from({ length: 250 }, () => post<RatelimitLimitResponse>(PATH, body, h.rootKey)));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      expect(replies.filter((r) => r.body.data.success)).toHaveLength(N);
      const remaining = replies.filter((r) => r.body.data.success).map((r) => r.body.data.remaining).sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(await namespaceRows(h.workspaceId, namespace)).toHaveLength(1);
    });

    it("rolls the window over with the clock (injected, no sleeps); reset is the window's end", async () => {
      const h = await Harness.init();
      const minute = 60_000;
      const start = (Math.floor(Date.now() / minute) + 1) * minute; // a window boundary just ahead
      let t = start + 1_000;
      const app = createApp({ clock: { now: () => t } });
      const body = { namespace: uniqueName(), identifier: "user_1", limit: 2, duration: minute };
      const call = async () => (await callApp(app, body, h.rootKey)).body.data as RatelimitLimitResponse["data"];

      expect(await call()).toMatchObject({ success: true, remaining: 1, reset: start + minute });
      expect(await call()).toMatchObject({ success: true, remaining: 0, reset: start + minute });
      expect(await call()).toMatchObject({ success: false, remaining: 0, reset: start + minute });

      // Just past the window the sliding window still remembers the burst (2 × 59/60 + 1 > 2)...
      t = start + minute + 1_000;
      expect(await call()).toMatchObject({ success: false, reset: start + 2 * minute });
      // ...and late in it the previous window weighs little enough: 2 × 14/60 + 1 <= 2.
      t = start + minute + 46_000;
      expect(await call()).toMatchObject({ success: true, remaining: 0, reset: start + 2 * minute });
      // Two windows later nothing is remembered.
      t = start + 3 * minute + 5_000;
      expect(await call()).toMatchObject({ success: true, remaining: 1, reset: start + 4 * minute });
      expect(await call()).toMatchObject({ success: true, remaining: 0, reset: start + 4 * minute });
      expect(await call()).toMatchObject({ success: false, remaining: 0 });
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const namespace = uniqueName("sdk");
      const res = await h.sdk().ratelimit.limit({ namespace, identifier: "user_1", limit: 1, duration: 60_000 });
      expect(res.data).toMatchObject({ success: true, limit: 1, remaining: 0 });
      const again = await h.sdk().ratelimit.limit({ namespace, identifier: "user_1", limit: 1, duration: 60_000 });
      expect(again.data.success).toBe(false);
      await expect(h.sdk().ratelimit.limit({ namespace: "rlns_doesNotExist000000", identifier: "x", limit: 1, duration: 60_000 })).rejects.toBeInstanceOf(
        errors.NotFoundErrorResponse,
      );
    });
  });

  describe("errors", () => {
    it("400 for missing, out-of-range, non-integer or unknown fields", async () => {
      const h = await Harness.init();
      const ok = { namespace: "ns", identifier: "user_1", limit: 1, duration: 1000 };
      const cases: Array<[unknown, string]> = [
        [{ ...ok, namespace: undefined }, "body.namespace"],
        [{ ...ok, identifier: undefined }, "body.identifier"],
        [{ ...ok, limit: undefined }, "body.limit"],
        [{ ...ok, duration: undefined }, "body.duration"],
        [{ ...ok, namespace: "" }, "body.namespace"],
        [{ ...ok, namespace: "n".repeat(513) }, "body.namespace"],
        [{ ...ok, identifier: "" }, "body.identifier"],
        [{ ...ok, identifier: "i".repeat(513) }, "body.identifier"],
        [{ ...ok, limit: 0 }, "body.limit"],
        [{ ...ok, limit: 1.5 }, "body.limit"],
        [{ ...ok, duration: 999 }, "body.duration"],
        [{ ...ok, duration: 0 }, "body.duration"],
        [{ ...ok, duration: MAX_DURATION_MS + 1 }, "body.duration"],
        [{ ...ok, cost: -1 }, "body.cost"],
        [{ ...ok, cost: "1" }, "body.cost"],
        [{ ...ok, async: true }, "body.async"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      for (const body of [[ok], "null", 42]) expect((await h.post(PATH, body)).status).toBe(400);
    });

    it("404 for an unknown namespace id, which is never created", async () => {
      const h = await Harness.init();
      const res = await h.post(PATH, { namespace: "rlns_doesNotExist000000", identifier: "x", limit: 1, duration: 1000 });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/ratelimit_namespace_not_found");
      expect(await namespaceRows(h.workspaceId, "rlns_doesNotExist000000")).toHaveLength(0);
    });

    it("403 for an unknown name unless the key may create namespaces and limit in all of them; nothing is created", async () => {
      const h = await Harness.init();
      const namespace = uniqueName();
      const body = { namespace, identifier: "x", limit: 1, duration: 1000 };
      for (const perms of [["ratelimit.*.limit"], ["ratelimit.*.create_namespace"], ["ratelimit.*.create_namespace", "ratelimit.rlns_x.limit"]]) {
        const res = await h.post(PATH, body, { key: await h.createRootKey(perms) });
        expect(res.status, perms.join()).toBe(403);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
        expect(res.body.error.detail).toContain("ratelimit.*.");
      }
      expect(await namespaceRows(h.workspaceId, namespace)).toHaveLength(0);
      const creator = await h.createRootKey(["ratelimit.*.create_namespace", "ratelimit.*.limit"]);
      expect((await h.post(PATH, body, { key: creator })).status).toBe(200);
      expect(await namespaceRows(h.workspaceId, namespace)).toHaveLength(1);
    });

    it("503 when the rate limiter fails, never a made-up answer", async () => {
      const h = await Harness.init();
      const ns = await createNamespace(h);
      const failing: LimiterClient = {
        limit: () => Promise.reject(new Error("rate limiter timed out after 3000 ms")),
        refund: () => Promise.resolve(),
      };
      const app = createApp({ limiter: () => failing });
      const res = await callApp(app, { namespace: ns.name, identifier: "x", limit: 1, duration: 60_000 }, h.rootKey);
      expect(res.status).toBe(503);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/service_unavailable");
      expect(JSON.stringify(res.body)).not.toContain("3000 ms");
      // The real limiter counted nothing.
      expect((await h.post(PATH, { namespace: ns.name, identifier: "x", limit: 1, duration: 60_000 })).body.data.success).toBe(true);
    });
  });

  describeSecurity({
    operation: "ratelimit.limit",
    setup: async (h) => {
      const ns = await createNamespace(h);
      return { body: { namespace: ns.id, identifier: "user_1", limit: 10, duration: 60_000 }, apiId: ns.id };
    },
    grant: (namespaceId = "*") => [`ratelimit.${namespaceId}.limit`],
    missing: () => ({ namespace: "rlns_doesNotExist000000", identifier: "user_1", limit: 10, duration: 60_000 }),
  });
});
