/**
 * The per-workspace `AuditLog` Durable Object on its own, and the Worker's client of it: what it stores,
 * how appends chain (also when they race), retries, zod at the RPC boundary, listing with filters and
 * pages, and tamper detection when a stored row is edited in the object's SQLite storage directly.
 * Objects are addressed as the Worker addresses them: `idFromName("audit:<workspaceId>")`.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AuditLog } from "../../src/durable/audit-log";
import { readConfig } from "../../src/env";
import {
  buildEvents,
  GENESIS_HASH,
  hashEvent,
  type AuditContext,
  type AuditEntry,
  type AuditEvent,
  type AuditPage,
  type AuditRow,
} from "../../src/lib/audit";
import { newId } from "../../src/lib/ids";
import { generateKey } from "../../src/lib/keys";
import { Services } from "../../src/services";
import { auditLogName, AuditWriteError, DurableAuditClient } from "../../src/services/audit";

const T = 1_750_000_000_000;

function fresh(): { stub: DurableObjectStub<AuditLog>; ctx: AuditContext } {
  const workspaceId = newId("ws");
  const ctx: AuditContext = {
    workspaceId,
    actor: { type: "rootkey", id: newId("key") },
    remoteIp: "198.51.100.7",
    userAgent: "test-agent/1.0",
    requestId: newId("req"),
  };
  return { stub: env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName(auditLogName(workspaceId))), ctx };
}

const keyCreate = (keyId: string, apiId = "api_0Api00000000000000"): AuditEntry => ({
  event: "key.create",
  resources: [
    { type: "api", id: apiId },
    { type: "key", id: keyId },
  ],
});

function events(ctx: AuditContext, entries: AuditEntry[], time = T): ReturnType<typeof buildEvents> {
  return buildEvents(ctx, entries, time, newId("cor"));
}

async function rows(stub: DurableObjectStub<AuditLog>): Promise<AuditRow[]> {
  return runInDurableObject(stub, (_i, state) => state.storage.sql.exec<AuditRow>("SELECT * FROM audit_events ORDER BY seq").toArray());
}

/** The error a call made inside the object rejects with (an RPC rejection would be reported as unhandled). */
async function refusal(stub: DurableObjectStub<AuditLog>, call: (log: AuditLog) => Promise<unknown>): Promise<Error | null> {
  return runInDurableObject(stub, (instance) => call(instance).then(() => null, (e: unknown) => e as Error));
}

/** One page. (`meta` is `unknown` inside, which RPC typing cannot express, hence the cast.) */
async function page(stub: DurableObjectStub<AuditLog>, filter: Record<string, unknown>): Promise<AuditPage> {
  return (await stub.list(filter)) as unknown as AuditPage;
}

async function listAll(stub: DurableObjectStub<AuditLog>, filter: Record<string, unknown> = {}): Promise<AuditEvent[]> {
  return (await page(stub, { limit: 100, ...filter })).events;
}

describe("AuditLog", () => {
  describe("append", () => {
    it("chains from the genesis hash, then from the last stored event, and stores the documented row", async () => {
      const { stub, ctx } = fresh();
      const first = (await stub.append(events(ctx, [keyCreate("key_a"), keyCreate("key_b")]))) as AuditEvent[];
      expect(first.map((e) => e.prevHash)).toEqual([GENESIS_HASH, first[0]!.hash]);
      expect(first[0]!.hash).toBe(await hashEvent(GENESIS_HASH, first[0]!));
      const [third] = (await stub.append(events(ctx, [{ event: "key.delete", resources: [{ type: "key", id: "key_a" }] }]))) as AuditEvent[];
      expect(third!.prevHash).toBe(first[1]!.hash);

      const stored = await rows(stub);
      expect(stored.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(stored[0]).toEqual({
        seq: 1,
        id: first[0]!.id,
        time: T,
        event: "key.create",
        actor_id: ctx.actor.id,
        resource_ids: " api_0Api00000000000000 key_a ",
        json: expect.any(String),
        prev_hash: GENESIS_HASH,
        hash: first[0]!.hash,
      });
      const { prevHash: _p, hash: _h, ...content } = first[0]!;
      expect(JSON.parse(stored[0]!.json)).toEqual(content);
      expect(await stub.verifyChain()).toEqual({ valid: true, count: 3, lastHash: third!.hash });
    });

    it("racing appends never chain from the same head", async () => {
      const { stub, ctx } = fresh();
      await Promise.all(Array.from({ length: 12 }, (_, i) => stub.append(events(ctx, [keyCreate(`key_${i}`), keyCreate(`key_${i}_b`)]))));
      expect(await stub.verifyChain()).toMatchObject({ valid: true, count: 24 });
      // Each request's two events are adjacent: a batch is appended atomically, in order.
      const stored = await rows(stub);
      for (let i = 0; i < stored.length; i += 2) expect(stored[i + 1]!.resource_ids).toBe(stored[i]!.resource_ids.replace(/ $/, "_b "));
    });

    it("stores a retried batch once and returns it as stored; a partial overlap is refused", async () => {
      const { stub, ctx } = fresh();
      const batch = events(ctx, [keyCreate("key_a"), keyCreate("key_b")]);
      const stored = await stub.append(batch);
      expect(await stub.append(batch)).toEqual(stored);
      expect((await refusal(stub, (log) => log.append([batch[0]!, ...events(ctx, [keyCreate("key_c")])])))?.message).toMatch(/stored already/);
      expect((await rows(stub)).length).toBe(2);
    });

    it("refuses events of another workspace once it holds one workspace's log", async () => {
      const { stub, ctx } = fresh();
      await stub.append(events(ctx, [keyCreate("key_a")]));
      const err = await refusal(stub, (log) => log.append(events({ ...ctx, workspaceId: newId("ws") }, [keyCreate("key_b")])));
      expect(err?.message).toMatch(/another workspace/);
      expect((await rows(stub)).length).toBe(1);
    });

    it("checks its input with zod and stores nothing it refuses, a plaintext key above all", async () => {
      const { stub, ctx } = fresh();
      const { key } = generateKey({ prefix: "sk", byteLength: 16 });
      const [good] = events(ctx, [keyCreate("key_a")]);
      const bad: unknown[] = [
        [],
        [{ ...good, meta: { key } }],
        [{ ...good, resources: [{ type: "key", id: key }] }],
        [{ ...good, event: "key.explode" }],
        [{ ...good, prevHash: GENESIS_HASH, hash: GENESIS_HASH }],
        [good, { ...good, workspaceId: newId("ws") }],
        "nope",
        null,
      ];
      for (const input of bad) expect((await refusal(stub, (log) => log.append(input)))?.name, JSON.stringify(input)).toBe("ZodError");
      expect(await rows(stub)).toEqual([]);
      expect(await stub.verifyChain()).toEqual({ valid: true, count: 0 });
    });
  });

  describe("list", () => {
    it("lists newest first, filtered by event, actor, resource and time, and pages with a cursor", async () => {
      const { stub, ctx } = fresh();
      const other = { ...ctx, actor: { type: "rootkey" as const, id: newId("key") } };
      await stub.append(events(ctx, [keyCreate("key_a", "api_x"), keyCreate("key_b", "api_x")], T));
      await stub.append(events(other, [{ event: "key.update", resources: [{ type: "key", id: "key_a" }] }], T + 10));
      await stub.append(events(ctx, [{ event: "api.delete", resources: [{ type: "api", id: "api_x" }] }], T + 20));

      const all = await listAll(stub);
      expect(all.map((e) => e.event)).toEqual(["api.delete", "key.update", "key.create", "key.create"]);
      expect(all[0]).not.toHaveProperty("seq");
      expect(all[0]).not.toHaveProperty("json");
      expect((await listAll(stub, { events: ["key.create"] })).map((e) => e.resources[1]!.id)).toEqual(["key_b", "key_a"]);
      expect((await listAll(stub, { actorId: other.actor.id })).map((e) => e.event)).toEqual(["key.update"]);
      expect((await listAll(stub, { resourceId: "key_a" })).map((e) => e.event)).toEqual(["key.update", "key.create"]);
      // Whole ids only: "key_" is a prefix of ids, not an id.
      expect(await listAll(stub, { resourceId: "key_" })).toEqual([]);
      expect((await listAll(stub, { since: T + 10 })).map((e) => e.event)).toEqual(["api.delete", "key.update"]);
      expect((await listAll(stub, { until: T + 10 })).map((e) => e.event)).toEqual(["key.update", "key.create", "key.create"]);
      expect((await listAll(stub, { since: T + 5, until: T + 15, resourceId: "key_a", events: ["key.update"] })).length).toBe(1);

      const seen: string[] = [];
      let cursor: number | undefined;
      for (let i = 0; i < 10; i++) {
        const p = await page(stub, { limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...p.events.map((e) => e.id));
        if (!p.cursor) break;
        cursor = Number(p.cursor);
      }
      expect(seen).toEqual(all.map((e) => e.id));
    });

    it("refuses a malformed filter", async () => {
      const { stub } = fresh();
      for (const f of [{}, { limit: 0 }, { limit: 101 }, { limit: 1, cursor: 0 }, { limit: 1, events: ["nope"] }, { limit: 1, extra: 1 }]) {
        expect((await refusal(stub, (log) => log.list(f)))?.name, JSON.stringify(f)).toBe("ZodError");
      }
    });
  });

  describe("tamper detection", () => {
    it("reports an event edited in storage, a filter column edited alone, and a removed event", async () => {
      const { stub, ctx } = fresh();
      await stub.append(events(ctx, [keyCreate("key_a"), keyCreate("key_b"), keyCreate("key_c"), keyCreate("key_d")]));
      const ids = (await rows(stub)).map((r) => r.id);
      expect(await stub.verifyChain()).toMatchObject({ valid: true, count: 4 });

      await runInDurableObject(stub, (_i, state) => {
        state.storage.sql.exec("UPDATE audit_events SET json = replace(json, 'key_b', 'key_z') WHERE id = ?", ids[1]!);
      });
      expect(await stub.verifyChain()).toEqual({ valid: false, count: 4, firstBrokenEventId: ids[1] });

      const { stub: s2, ctx: c2 } = fresh();
      await s2.append(events(c2, [keyCreate("key_a"), keyCreate("key_b"), keyCreate("key_c")]));
      const ids2 = (await rows(s2)).map((r) => r.id);
      await runInDurableObject(s2, (_i, state) => void state.storage.sql.exec("UPDATE audit_events SET event = 'key.delete' WHERE id = ?", ids2[2]!));
      expect(await s2.verifyChain()).toEqual({ valid: false, count: 3, firstBrokenEventId: ids2[2] });

      const { stub: s3, ctx: c3 } = fresh();
      await s3.append(events(c3, [keyCreate("key_a"), keyCreate("key_b"), keyCreate("key_c")]));
      const ids3 = (await rows(s3)).map((r) => r.id);
      await runInDurableObject(s3, (_i, state) => void state.storage.sql.exec("DELETE FROM audit_events WHERE id = ?", ids3[1]!));
      expect(await s3.verifyChain()).toEqual({ valid: false, count: 2, firstBrokenEventId: ids3[2] });
    });

    it("verifies a log longer than one read page", async () => {
      const { stub, ctx } = fresh();
      for (let i = 0; i < 6; i++) await stub.append(events(ctx, Array.from({ length: 100 }, (_, j) => keyCreate(`key_${i}_${j}`))));
      expect(await stub.verifyChain()).toMatchObject({ valid: true, count: 600 });
      const victim = (await rows(stub))[550]!.id;
      await runInDurableObject(stub, (_i, state) => void state.storage.sql.exec("UPDATE audit_events SET time = time + 1 WHERE id = ?", victim));
      expect(await stub.verifyChain()).toEqual({ valid: false, count: 600, firstBrokenEventId: victim });
    });
  });
});

describe("AuditClient", () => {
  const services = () => new Services({ env, config: readConfig(env as never), waitUntil: () => undefined });

  it("gives one request's events one correlation id and fresh log_ ids, and stores them in the workspace's object", async () => {
    const { ctx } = fresh();
    const audit = services().audit;
    const first = await audit.record(ctx, [keyCreate("key_a")]);
    const second = await audit.record(ctx, [keyCreate("key_b"), keyCreate("key_c")]);
    const ids = [...first, ...second].map((e) => e.id);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^log_/);
    expect(new Set([...first, ...second].map((e) => e.correlationId)).size).toBe(1);
    expect(first[0]!.correlationId).toMatch(/^cor_/);
    expect(first[0]).toMatchObject({ workspaceId: ctx.workspaceId, actor: ctx.actor, remoteIp: "198.51.100.7", userAgent: "test-agent/1.0", requestId: ctx.requestId });

    const another = await services().audit.record(ctx, [keyCreate("key_d")]);
    expect(another[0]!.correlationId).not.toBe(first[0]!.correlationId);
    expect((await audit.verifyChain(ctx.workspaceId)).count).toBe(4);
    expect((await audit.list(ctx.workspaceId, { limit: 100 })).events.map((e) => e.id)).toEqual([another[0]!.id, ...ids.reverse()]);
    expect(await audit.record(ctx, [])).toEqual([]);
  });

  it("throws AuditWriteError (a 503) for an event carrying a key, before anything is sent", async () => {
    const { ctx } = fresh();
    const { key } = generateKey({ prefix: "sk", byteLength: 24 });
    const err = await services()
      .audit.record(ctx, [{ ...keyCreate("key_a"), meta: { oops: key } }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditWriteError);
    expect((err as AuditWriteError).status).toBe(503);
    expect(JSON.stringify(err)).not.toContain(key);
    expect((await services().audit.verifyChain(ctx.workspaceId)).count).toBe(0);
  });

  it("retries a failed append once with the same events, then throws AuditWriteError", async () => {
    const { ctx } = fresh();
    const calls: unknown[] = [];
    const failing = (failures: number) =>
      ({
        idFromName: (name: string) => env.AUDIT_LOG.idFromName(name),
        get: (id: DurableObjectId) => ({
          append: async (input: unknown) => {
            calls.push(input);
            if (calls.length <= failures) throw new Error("object unreachable");
            return env.AUDIT_LOG.get(id).append(input);
          },
        }),
      }) as unknown as Env["AUDIT_LOG"];

    const recovered = await new DurableAuditClient(failing(1), () => T).record(ctx, [keyCreate("key_a")]);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual(calls[1]);
    expect(recovered[0]!.prevHash).toBe(GENESIS_HASH);

    calls.length = 0;
    await expect(new DurableAuditClient(failing(2), () => T).record(ctx, [keyCreate("key_b")])).rejects.toBeInstanceOf(AuditWriteError);
    expect(calls).toHaveLength(2);
    expect((await services().audit.verifyChain(ctx.workspaceId)).count).toBe(1);
  });
});
