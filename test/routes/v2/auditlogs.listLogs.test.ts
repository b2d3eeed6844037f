import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { readConfig } from "../../../src/env";
import { GENESIS_HASH, hashEvent, type AuditEntry, type AuditEvent } from "../../../src/lib/audit";
import { hashKey } from "../../../src/lib/hash";
import { newId } from "../../../src/lib/ids";
import type { AuditlogsListLogsResponse } from "../../../src/routes/v2/auditlogs.listLogs";
import { Services } from "../../../src/services";
import { DurableAuditClient } from "../../../src/services/audit";
import { BASE_URL, Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/auditlogs.listLogs";
const ERR = "https://unkey.com/docs/errors/";

/** The id of the root key `h` calls with: the actor its events name. */
async function rootKeyId(h: Harness, key = h.rootKey): Promise<string> {
  const row = await env.DB.prepare("SELECT id FROM keys WHERE hash = ?").bind(await hashKey(key)).first<{ id: string }>();
  if (!row) throw new Error("root key not found");
  return row.id;
}

/** Records `entries` as one request of `h`'s workspace would, through the service container's client. */
async function record(h: Harness, entries: AuditEntry[], actorId?: string, extra: { userAgent?: string; remoteIp?: string } = {}): Promise<AuditEvent[]> {
  const services = new Services({ env, config: readConfig(env as never), waitUntil: () => undefined });
  return services.audit.record(
    {
      workspaceId: h.workspaceId,
      actor: { type: "rootkey", id: actorId ?? (await rootKeyId(h)) },
      remoteIp: extra.remoteIp ?? "203.0.113.5",
      userAgent: extra.userAgent ?? "@unkey/api 2.5.0",
      requestId: newId("req"),
    },
    entries,
  );
}

const created = (keyId: string, apiId: string): AuditEntry => ({ event: "key.create", resources: [{ type: "api", id: apiId }, { type: "key", id: keyId }] });

async function list(h: Harness, body: Record<string, unknown> = {}, key?: string) {
  return h.post<AuditlogsListLogsResponse>(PATH, body, key === undefined ? {} : { key });
}

describe("auditlogs.listLogs", () => {
  describe("happy", () => {
    it("lists the workspace's events newest first, exactly as stored and chained", async () => {
      const h = await Harness.init({ quietLog: true });
      const actor = await rootKeyId(h);
      const first = await record(h, [created("key_a", h.apiId), created("key_b", h.apiId)]);
      const second = await record(h, [{ event: "key.delete", resources: [{ type: "key", id: "key_a" }], meta: { permanent: false } }]);
      const res = await list(h);
      expect(res.status).toBe(200);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.pagination).toEqual({ hasMore: false });
      const data = res.body.data;
      expect(data.map((e) => e.id)).toEqual([second[0]!.id, first[1]!.id, first[0]!.id]);
      expect(data[0]).toEqual({
        id: second[0]!.id,
        time: expect.any(Number),
        event: "key.delete",
        workspaceId: h.workspaceId,
        actor: { type: "rootkey", id: actor },
        resources: [{ type: "key", id: "key_a" }],
        remoteIp: "203.0.113.5",
        userAgent: "@unkey/api 2.5.0",
        requestId: expect.stringMatching(/^req_/),
        correlationId: expect.stringMatching(/^cor_/),
        meta: { permanent: false },
        prevHash: first[1]!.hash,
        hash: second[0]!.hash,
      });
      // One request, one correlation id; another request, another.
      expect(data[1]!.correlationId).toBe(data[2]!.correlationId);
      expect(data[0]!.correlationId).not.toBe(data[1]!.correlationId);
      expect(data[2]!.prevHash).toBe(GENESIS_HASH);
      for (const e of data) expect(e.hash).toBe(await hashEvent(e.prevHash, e));
      expect(JSON.stringify(res.body)).not.toContain("null");
    });

    it("filters by event, actor, resource and time, combined with AND", async () => {
      const h = await Harness.init({ quietLog: true });
      const other = newId("key");
      const before = Date.now() - 1;
      await record(h, [created("key_a", h.apiId), created("key_b", h.apiId)]);
      await record(h, [{ event: "key.update", resources: [{ type: "key", id: "key_a" }] }], other);
      await record(h, [{ event: "api.delete", resources: [{ type: "api", id: h.apiId }] }]);
      const events = async (body: Record<string, unknown>) => {
        const res = await list(h, body);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return res.body.data.map((e) => e.event);
      };
      expect(await events({ events: ["key.create", "key.update"] })).toEqual(["key.update", "key.create", "key.create"]);
      expect(await events({ actorId: other })).toEqual(["key.update"]);
      expect(await events({ resourceId: "key_a" })).toEqual(["key.update", "key.create"]);
      expect(await events({ resourceId: h.apiId, events: ["api.delete"] })).toEqual(["api.delete"]);
      expect(await events({ resourceId: "key_a", actorId: other, events: ["key.create"] })).toEqual([]);
      expect(await events({ since: before, until: Date.now() + 1000 })).toHaveLength(4);
      expect(await events({ since: Date.now() + 60_000 })).toEqual([]);
      expect(await events({ until: before })).toEqual([]);
      expect(await events({ resourceId: "key_unknown" })).toEqual([]);
    });

    it("pages with limit and cursor until hasMore is false", async () => {
      const h = await Harness.init({ quietLog: true });
      for (let i = 0; i < 5; i++) await record(h, [created(`key_${i}`, h.apiId)]);
      const all = (await list(h)).body.data.map((e) => e.id);
      expect(all).toHaveLength(5);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await list(h, { limit: 2, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        seen.push(...res.body.data.map((e) => e.id));
        if (!res.body.pagination.hasMore) {
          expect(res.body.pagination.cursor).toBeUndefined();
          break;
        }
        expect(res.body.data).toHaveLength(2);
        cursor = res.body.pagination.cursor;
        expect(cursor).toBeTruthy();
      }
      expect(seen).toEqual(all);
    });

    it("never shows another workspace's events, and an empty log is an empty page", async () => {
      const h = await Harness.init({ quietLog: true });
      const theirs = await Harness.init({ quietLog: true });
      const mine = await record(h, [created("key_mine", h.apiId)]);
      const foreign = await record(theirs, [created("key_theirs", theirs.apiId)]);
      const ids = (await list(h)).body.data.map((e) => e.id);
      expect(ids).toContain(mine[0]!.id);
      expect(ids).not.toContain(foreign[0]!.id);
      expect((await list(h, { resourceId: "key_theirs" })).body.data).toEqual([]);
      expect((await list(theirs)).body.data.map((e) => e.id)).toEqual([foreign[0]!.id]);

      const empty = await Harness.init({ quietLog: true });
      expect((await list(empty)).body).toMatchObject({ data: [], pagination: { hasMore: false } });
    });

    it("works with a key that holds only auditlog.*.read", async () => {
      const h = await Harness.init({ quietLog: true });
      await record(h, [created("key_a", h.apiId)]);
      const reader = await h.createRootKey(["auditlog.*.read"]);
      const res = await list(h, {}, reader);
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(1);
      // That key can read the log and nothing else: Unkey's SDK is refused elsewhere.
      await expect(h.sdk(reader).apis.getApi({ apiId: h.apiId })).rejects.toMatchObject({ statusCode: 403 });
    });

    it("is documented in /openapi.json as a Latch extension", async () => {
      await Harness.init({ quietLog: true });
      const doc: any = await (await exports.default.fetch(new Request("http://latch.test/openapi.json"))).json();
      const op = doc.paths[PATH].post;
      expect(op.tags).toEqual(["auditlogs"]);
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.description).toContain("auditlog.*.read");
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, cursor, filter or unknown field", async () => {
      const h = await Harness.init({ quietLog: true });
      const bad: Record<string, unknown>[] = [
        { limit: 0 },
        { limit: 101 },
        { limit: 1.5 },
        { cursor: "" },
        { cursor: "abc" },
        { cursor: "0" },
        { cursor: 5 },
        { events: [] },
        { events: ["key.explode"] },
        { events: "key.create" },
        { actorId: "" },
        { actorId: "key 1" },
        { resourceId: "x".repeat(256) },
        { since: -1 },
        { until: 1.5 },
        { since: 2000, until: 1000 },
        { search: "x" },
      ];
      for (const body of bad) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
      const order = await h.post(PATH, { since: 2000, until: 1000 });
      expect(order.body.error.errors[0].location).toBe("body.until");
    });

    it("a cursor past the end is an empty last page", async () => {
      const h = await Harness.init({ quietLog: true });
      await record(h, [created("key_a", h.apiId)]);
      const res = await list(h, { cursor: "1" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ data: [], pagination: { hasMore: false } });
    });

    it("503 when the audit log cannot be read", async () => {
      const h = await Harness.init({ quietLog: true });
      const unreachable = () => Promise.reject(new Error("object unreachable"));
      const broken = {
        idFromName: (name: string) => env.AUDIT_LOG.idFromName(name),
        get: () => ({ append: unreachable, list: unreachable, verifyChain: unreachable }),
      } as unknown as Env["AUDIT_LOG"];
      const app = createApp({ audit: () => new DurableAuditClient(broken, () => Date.now()) });
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(BASE_URL + PATH, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${h.rootKey}` }, body: "{}" }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).error.type).toBe(`${ERR}unkey/application/service_unavailable`);
    });
  });

  describeSecurity({
    operation: "auditlogs.listLogs",
    setup: async () => ({ body: {} }),
    grant: () => ["auditlog.*.read"],
  });
});
