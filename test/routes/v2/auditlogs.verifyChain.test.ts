import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { readConfig } from "../../../src/env";
import { hashEvent, toRow, type AuditEntry, type AuditEvent } from "../../../src/lib/audit";
import { newId } from "../../../src/lib/ids";
import type { AuditlogsListLogsResponse } from "../../../src/routes/v2/auditlogs.listLogs";
import type { AuditlogsVerifyChainResponse } from "../../../src/routes/v2/auditlogs.verifyChain";
import { Services } from "../../../src/services";
import { auditLogName, DurableAuditClient } from "../../../src/services/audit";
import { BASE_URL, Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/auditlogs.verifyChain";
const ERR = "https://unkey.com/docs/errors/";

async function record(h: Harness, entries: AuditEntry[]): Promise<AuditEvent[]> {
  const services = new Services({ env, config: readConfig(env as never), waitUntil: () => undefined });
  return services.audit.record(
    { workspaceId: h.workspaceId, actor: { type: "rootkey", id: newId("key") }, remoteIp: "2001:db8::1", userAgent: "test", requestId: newId("req") },
    entries,
  );
}

const created = (keyId: string, apiId: string): AuditEntry => ({ event: "key.create", resources: [{ type: "api", id: apiId }, { type: "key", id: keyId }] });

function logOf(h: Harness) {
  return env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName(auditLogName(h.workspaceId)));
}

/** Runs one SQL statement inside the workspace's audit-log object: the tampering an attacker with storage access could do. */
async function tamper(h: Harness, sql: string, ...params: (string | number)[]): Promise<void> {
  await runInDurableObject(logOf(h), (_instance, state) => void state.storage.sql.exec(sql, ...params));
}

async function verify(h: Harness, key?: string) {
  return h.post<AuditlogsVerifyChainResponse>(PATH, {}, key === undefined ? {} : { key });
}

describe("auditlogs.verifyChain", () => {
  describe("happy", () => {
    it("an empty log is valid with count 0", async () => {
      const h = await Harness.init({ quietLog: true });
      const res = await verify(h);
      expect(res.status).toBe(200);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      expect(res.body.data).toEqual({ valid: true, count: 0 });
    });

    it("an intact log is valid, with its count and the newest event's hash", async () => {
      const h = await Harness.init({ quietLog: true });
      await record(h, [created("key_a", h.apiId), created("key_b", h.apiId)]);
      const last = await record(h, [{ event: "key.delete", resources: [{ type: "key", id: "key_a" }] }]);
      const res = await verify(h);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ valid: true, count: 3, lastHash: last[0]!.hash });
      const listed = await h.post<AuditlogsListLogsResponse>("/v2/auditlogs.listLogs", { limit: 1 });
      expect(listed.body.data[0]!.hash).toBe(res.body.data.lastHash);
    });

    it("reports an event edited directly in the Durable Object's storage", async () => {
      const h = await Harness.init({ quietLog: true });
      const events = await record(h, [created("key_a", h.apiId), created("key_b", h.apiId), created("key_c", h.apiId)]);
      await record(h, [created("key_d", h.apiId)]);
      const victim = events[1]!.id;
      await tamper(h, "UPDATE audit_events SET json = replace(json, '\"key_b\"', '\"key_x\"') WHERE id = ?", victim);
      const res = await verify(h);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ valid: false, count: 4, firstBrokenEventId: victim });
    });

    it("an edit whose hash was recomputed still breaks the chain, at the event after it", async () => {
      const h = await Harness.init({ quietLog: true });
      const events = await record(h, [created("key_a", h.apiId), created("key_b", h.apiId), created("key_c", h.apiId)]);
      // A consistent forgery of event 0 (new content, its own hash recomputed): the link from event 1 breaks.
      const forged = { ...events[0]!, resources: [{ type: "key" as const, id: "key_innocent" }] };
      forged.hash = await hashEvent(forged.prevHash, forged);
      const row = toRow(forged);
      await tamper(h, "UPDATE audit_events SET json = ?, resource_ids = ?, hash = ? WHERE id = ?", row.json, row.resource_ids, row.hash, forged.id);
      expect((await verify(h)).body.data).toEqual({ valid: false, count: 3, firstBrokenEventId: events[1]!.id });
      // A forged hash alone is reported at its own event.
      await tamper(h, "UPDATE audit_events SET hash = ? WHERE id = ?", "f".repeat(64), events[0]!.id);
      expect((await verify(h)).body.data).toEqual({ valid: false, count: 3, firstBrokenEventId: events[0]!.id });
    });

    it("reports a removed event at the one after it, and a changed filter column at its event", async () => {
      const h = await Harness.init({ quietLog: true });
      const events = await record(h, [created("key_a", h.apiId), created("key_b", h.apiId), created("key_c", h.apiId)]);
      await tamper(h, "UPDATE audit_events SET actor_id = 'key_0Innocent0000000000' WHERE id = ?", events[2]!.id);
      expect((await verify(h)).body.data).toEqual({ valid: false, count: 3, firstBrokenEventId: events[2]!.id });

      const g = await Harness.init({ quietLog: true });
      const more = await record(g, [created("key_a", g.apiId), created("key_b", g.apiId), created("key_c", g.apiId)]);
      await tamper(g, "DELETE FROM audit_events WHERE id = ?", more[1]!.id);
      expect((await verify(g)).body.data).toEqual({ valid: false, count: 2, firstBrokenEventId: more[2]!.id });
    });

    it("each workspace's chain stands alone: tampering with another's does not touch this one", async () => {
      const h = await Harness.init({ quietLog: true });
      const theirs = await Harness.init({ quietLog: true });
      await record(h, [created("key_a", h.apiId)]);
      const foreign = await record(theirs, [created("key_b", theirs.apiId), created("key_c", theirs.apiId)]);
      await tamper(theirs, "UPDATE audit_events SET time = time + 1 WHERE id = ?", foreign[0]!.id);
      expect((await verify(h)).body.data).toMatchObject({ valid: true, count: 1 });
      expect((await verify(theirs)).body.data).toEqual({ valid: false, count: 2, firstBrokenEventId: foreign[0]!.id });
    });

    it("works with a key that holds only auditlog.*.read, and is documented as a Latch extension", async () => {
      const h = await Harness.init({ quietLog: true });
      await record(h, [created("key_a", h.apiId)]);
      const reader = await h.createRootKey(["auditlog.*.read"]);
      expect((await verify(h, reader)).body.data).toMatchObject({ valid: true, count: 1 });
      // Unkey's SDK has no audit-log calls; the same key is refused by one it has.
      await expect(h.sdk(reader).keys.createKey({ apiId: h.apiId })).rejects.toMatchObject({ statusCode: 403 });
      const doc: any = await (await exports.default.fetch(new Request("http://latch.test/openapi.json"))).json();
      const op = doc.paths[PATH].post;
      expect(op.tags).toEqual(["auditlogs"]);
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.description).toContain("auditlog.*.read");
    });
  });

  describe("errors", () => {
    it("400 for any field, and for a body that is not an object", async () => {
      const h = await Harness.init({ quietLog: true });
      for (const body of [{ workspaceId: h.workspaceId }, { full: true }, [], "x", null]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
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
    operation: "auditlogs.verifyChain",
    setup: async () => ({ body: {} }),
    grant: () => ["auditlog.*.read"],
  });
});
