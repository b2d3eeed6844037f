/**
 * The audit log end to end (issue 6): every mutation leaves its event(s) in the workspace's log, in the
 * same request, with Unkey's event names, the root key as actor, the resources it touched, the caller's IP
 * and user agent, the request id and one correlation id per request; the chain verifies; a change whose
 * record cannot be written does not happen (outbox in the same D1 batch, or a direct append before the
 * change for state outside D1); a relay that fails after the commit loses nothing; and no event ever holds
 * a plaintext key.
 */
import { createExecutionContext, listDurableObjectIds, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { INTERNAL_WORKSPACE_ID } from "../../src/lib/bootstrap";
import type { AuditEvent, AuditResource } from "../../src/lib/audit";
import { hashKey } from "../../src/lib/hash";
import type { AuditlogsListLogsResponse } from "../../src/routes/v2/auditlogs.listLogs";
import { DurableAuditClient } from "../../src/services/audit";
import { BASE_URL, Harness, type Reply } from "../harness";

const IP = "203.0.113.9";
const UA = "latch-audit-test/1.0";
const HEADERS = { "CF-Connecting-IP": IP, "User-Agent": UA };

async function rootKeyId(key: string): Promise<string> {
  const row = await env.DB.prepare("SELECT id FROM keys WHERE hash = ?").bind(await hashKey(key)).first<{ id: string }>();
  if (!row) throw new Error("root key not found");
  return row.id;
}

/** Every event of the workspace, oldest first (through auditlogs.listLogs, all pages). */
async function allEvents(h: Harness): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const res = await h.post<AuditlogsListLogsResponse>("/v2/auditlogs.listLogs", cursor ? { cursor } : {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...(res.body.data as AuditEvent[]));
    cursor = res.body.pagination.cursor;
  } while (cursor);
  return out.reverse();
}

/** A call with the test's IP and user agent that must succeed. */
async function call<T = any>(h: Harness, path: string, body: unknown): Promise<Reply<T>> {
  const res = await h.post<T>(path, body, { headers: HEADERS });
  expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
  return res;
}

type Expected = { event: string; resources: AuditResource[]; meta?: Record<string, unknown> };

/**
 * The events of request `res`, oldest first, checked against `expected` (names, resources and, where
 * given, meta), and all carrying the request's actor, IP, user agent, request id and one correlation id.
 */
async function expectRequestEvents(h: Harness, res: Reply, expected: Expected[], actor?: string): Promise<AuditEvent[]> {
  const requestId: string = res.body.meta.requestId;
  const events = (await allEvents(h)).filter((e) => e.requestId === requestId);
  expect(events.map((e) => ({ event: e.event, resources: e.resources }))).toEqual(expected.map(({ event, resources }) => ({ event, resources })));
  expected.forEach((x, i) => {
    if (x.meta) expect(events[i]!.meta, x.event).toEqual(x.meta);
  });
  const actorId = actor ?? (await rootKeyId(h.rootKey));
  for (const e of events) {
    expect(e).toMatchObject({ workspaceId: h.workspaceId, actor: { type: "rootkey", id: actorId }, remoteIp: IP, userAgent: UA, requestId });
  }
  expect(new Set(events.map((e) => e.correlationId)).size).toBeLessThanOrEqual(1);
  return events;
}

const key = (id: string): AuditResource => ({ type: "key", id });

async function count(sql: string, ...params: unknown[]): Promise<number> {
  return (await env.DB.prepare(sql).bind(...params).first<{ n: number }>())!.n;
}

/** An app whose audit-log object calls all fail (the outbox in D1 still works). */
function brokenAuditApp() {
  const unreachable = () => Promise.reject(new Error("audit object unreachable"));
  const broken = {
    idFromName: (name: string) => env.AUDIT_LOG.idFromName(name),
    get: () => ({ append: unreachable, appendMissing: unreachable, list: unreachable, verifyChain: unreachable }),
  } as unknown as Env["AUDIT_LOG"];
  const app = createApp({ audit: () => new DurableAuditClient(broken, () => Date.now()) });
  return async function post<T = any>(path: string, body: unknown, rootKey: string): Promise<Reply<T>> {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(BASE_URL + path, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}`, ...HEADERS }, body: JSON.stringify(body) }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  };
}

/** A workspace whose API stores encrypted keys. */
async function optedIn(): Promise<Harness> {
  const h = await Harness.init();
  expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
  return h;
}

describe("audit log", () => {
  it("Creating, updating, rerolling and deleting keys through Unkey's SDK leaves matching events in auditlogs.listLogs, and auditlogs.verifyChain says valid", async () => {
    const h = await Harness.init();
    const unkey = h.sdk();
    const actor = await rootKeyId(h.rootKey);

    const created = await unkey.keys.createKey({ apiId: h.apiId, name: "sdk key", externalId: "sdk_customer", credits: { remaining: 10 } });
    const { keyId } = created.data;
    const updated = await unkey.keys.updateKey({ keyId, name: "renamed", enabled: false });
    const rerolled = await unkey.keys.rerollKey({ keyId, expiration: 0 });
    const deleted = await unkey.keys.deleteKey({ keyId: rerolled.data.keyId });

    const events = (await allEvents(h)).filter((e) => e.event.startsWith("key.") || e.event.startsWith("identity."));
    expect(events.map((e) => e.event)).toEqual(["identity.create", "key.create", "key.update", "key.reroll", "key.delete"]);
    const [identityCreate, keyCreate, keyUpdate, keyReroll, keyDelete] = events as [AuditEvent, AuditEvent, AuditEvent, AuditEvent, AuditEvent];
    const identityId = (await env.DB.prepare("SELECT id FROM identities WHERE workspace_id = ? AND external_id = ?").bind(h.workspaceId, "sdk_customer").first<{ id: string }>())!.id;
    expect(identityCreate.resources).toEqual([{ type: "identity", id: identityId }]);
    expect(keyCreate.resources).toEqual([{ type: "api", id: h.apiId }, key(keyId)]);
    expect(keyUpdate).toMatchObject({ resources: [{ type: "api", id: h.apiId }, key(keyId)], meta: { fields: ["name", "enabled"] } });
    expect(keyReroll.resources).toEqual([{ type: "api", id: h.apiId }, key(keyId), key(rerolled.data.keyId)]);
    expect(keyReroll.meta).toMatchObject({ oldKeyId: keyId, newKeyId: rerolled.data.keyId, expiration: 0 });
    expect(keyDelete).toMatchObject({ resources: [{ type: "api", id: h.apiId }, key(rerolled.data.keyId)], meta: { permanent: false } });

    for (const e of events) expect(e.actor).toEqual({ type: "rootkey", id: actor });
    expect(identityCreate.requestId).toBe(created.meta.requestId);
    expect(keyCreate.requestId).toBe(created.meta.requestId);
    expect(keyUpdate.requestId).toBe(updated.meta.requestId);
    expect(keyReroll.requestId).toBe(rerolled.meta.requestId);
    expect(keyDelete.requestId).toBe(deleted.meta.requestId);
    // One correlation id per request: shared within createKey's two events, distinct across requests.
    expect(identityCreate.correlationId).toBe(keyCreate.correlationId);
    expect(new Set([keyCreate, keyUpdate, keyReroll, keyDelete].map((e) => e.correlationId)).size).toBe(4);

    const chain = await h.post("/v2/auditlogs.verifyChain", {});
    expect(chain.status).toBe(200);
    expect(chain.body.data).toMatchObject({ valid: true, count: (await allEvents(h)).length });
    // Everything was relayed before each response: nothing is left waiting in the outbox.
    expect(await count("SELECT count(*) AS n FROM audit_outbox WHERE workspace_id = ?", h.workspaceId)).toBe(0);
  });

  describe("one event per mutation", () => {
    it("keys: create with a new identity, permissions and roles; update; credits; delete; reroll", async () => {
      const h = await Harness.init();
      const api = { type: "api" as const, id: h.apiId };
      const existing = (await call(h, "/v2/permissions.createPermission", { name: "read", slug: "docs.read" })).body.data.permissionId;
      const roleId = (await call(h, "/v2/permissions.createRole", { name: "admin" })).body.data.roleId;

      const created = await call(h, "/v2/keys.createKey", { apiId: h.apiId, externalId: "cust_1", permissions: ["docs.read", "docs.write"], roles: ["admin"], credits: { remaining: 5 } });
      const keyId: string = created.body.data.keyId;
      const newPerm = (await env.DB.prepare("SELECT id FROM permissions WHERE workspace_id = ? AND slug = 'docs.write'").bind(h.workspaceId).first<{ id: string }>())!.id;
      const identityId = (await env.DB.prepare("SELECT identity_id AS id FROM keys WHERE id = ?").bind(keyId).first<{ id: string }>())!.id;
      await expectRequestEvents(h, created, [
        { event: "identity.create", resources: [{ type: "identity", id: identityId }] },
        { event: "key.create", resources: [api, key(keyId)], meta: { recoverable: false } },
        { event: "permission.create", resources: [{ type: "permission", id: newPerm }] },
        { event: "authorization.connect_permission_and_key", resources: [key(keyId), { type: "permission", id: existing }] },
        { event: "authorization.connect_permission_and_key", resources: [key(keyId), { type: "permission", id: newPerm }] },
        { event: "authorization.connect_role_and_key", resources: [key(keyId), { type: "role", id: roleId }] },
      ]);

      // The identity exists now: no second identity.create.
      const second = await call(h, "/v2/keys.createKey", { apiId: h.apiId, externalId: "cust_1" });
      await expectRequestEvents(h, second, [{ event: "key.create", resources: [api, key(second.body.data.keyId)] }]);

      const updated = await call(h, "/v2/keys.updateKey", { keyId, name: "n", meta: { plan: "pro" }, ratelimits: [] });
      await expectRequestEvents(h, updated, [{ event: "key.update", resources: [api, key(keyId)], meta: { fields: ["name", "meta", "ratelimits"] } }]);
      const credited = await call(h, "/v2/keys.updateKey", { keyId, credits: { remaining: 50 } });
      await expectRequestEvents(h, credited, [{ event: "key.update", resources: [api, key(keyId)], meta: { fields: ["credits"] } }]);
      const topUp = await call(h, "/v2/keys.updateCredits", { keyId, operation: "increment", value: 3 });
      await expectRequestEvents(h, topUp, [{ event: "key.update", resources: [api, key(keyId)], meta: { fields: ["credits"], operation: "increment" } }]);

      const rerolled = await call(h, "/v2/keys.rerollKey", { keyId, expiration: 60_000 });
      await expectRequestEvents(h, rerolled, [{ event: "key.reroll", resources: [api, key(keyId), key(rerolled.body.data.keyId)] }]);
      const deleted = await call(h, "/v2/keys.deleteKey", { keyId, permanent: true });
      await expectRequestEvents(h, deleted, [{ event: "key.delete", resources: [api, key(keyId)], meta: { permanent: true } }]);
      // A failed mutation records nothing.
      const again = await h.post("/v2/keys.deleteKey", { keyId }, { headers: HEADERS });
      expect(again.status).toBe(404);
      expect((await allEvents(h)).filter((e) => e.requestId === again.body.meta.requestId)).toEqual([]);
    });

    it("keys: add, set and remove permissions and roles record exactly the links made or removed", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const perm = async (slug: string) => (await call(h, "/v2/permissions.createPermission", { name: slug, slug })).body.data.permissionId as string;
      const [a, b] = [await perm("p.a"), await perm("p.b")];
      const role = async (name: string) => (await call(h, "/v2/permissions.createRole", { name })).body.data.roleId as string;
      const [r1, r2] = [await role("r1"), await role("r2")];
      const P = (id: string): AuditResource => ({ type: "permission", id });
      const R = (id: string): AuditResource => ({ type: "role", id });
      const connectP = (id: string) => ({ event: "authorization.connect_permission_and_key", resources: [key(keyId), P(id)] });
      const disconnectP = (id: string) => ({ event: "authorization.disconnect_permission_and_key", resources: [key(keyId), P(id)] });
      const connectR = (id: string) => ({ event: "authorization.connect_role_and_key", resources: [key(keyId), R(id)] });
      const disconnectR = (id: string) => ({ event: "authorization.disconnect_role_and_key", resources: [key(keyId), R(id)] });

      await expectRequestEvents(h, await call(h, "/v2/keys.addPermissions", { keyId, permissions: ["p.a"] }), [connectP(a)]);
      // p.a is held already: only p.b is connected; p.c is created and connected.
      const added = await call(h, "/v2/keys.addPermissions", { keyId, permissions: ["p.a", b, "p.c"] });
      const c = (await env.DB.prepare("SELECT id FROM permissions WHERE workspace_id = ? AND slug = 'p.c'").bind(h.workspaceId).first<{ id: string }>())!.id;
      await expectRequestEvents(h, added, [{ event: "permission.create", resources: [P(c)] }, connectP(b), connectP(c)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.setPermissions", { keyId, permissions: ["p.b"] }), [disconnectP(a), disconnectP(c)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.setPermissions", { keyId, permissions: ["p.a"] }), [disconnectP(b), connectP(a)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.removePermissions", { keyId, permissions: ["p.a", "p.b"] }), [disconnectP(a)]);

      await expectRequestEvents(h, await call(h, "/v2/keys.addRoles", { keyId, roles: ["r1"] }), [connectR(r1)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.addRoles", { keyId, roles: ["r1", r2] }), [connectR(r2)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.setRoles", { keyId, roles: [r2] }), [disconnectR(r1)]);
      await expectRequestEvents(h, await call(h, "/v2/keys.removeRoles", { keyId, roles: ["r2"] }), [disconnectR(r2)]);
      // Nothing to change: nothing recorded.
      await expectRequestEvents(h, await call(h, "/v2/keys.setRoles", { keyId, roles: [] }), []);
    });

    it("identities: create, update, delete", async () => {
      const h = await Harness.init();
      const created = await call(h, "/v2/identities.createIdentity", { externalId: "acme", ratelimits: [{ name: "calls", limit: 10, duration: 60_000 }] });
      const id: string = created.body.data.identityId;
      const I: AuditResource = { type: "identity", id };
      await expectRequestEvents(h, created, [{ event: "identity.create", resources: [I], meta: { ratelimits: 1 } }]);
      await expectRequestEvents(h, await call(h, "/v2/identities.updateIdentity", { identity: "acme", meta: { tier: 2 } }), [
        { event: "identity.update", resources: [I], meta: { fields: ["meta"] } },
      ]);
      await expectRequestEvents(h, await call(h, "/v2/identities.deleteIdentity", { identity: id }), [{ event: "identity.delete", resources: [I] }]);
    });

    it("permissions and roles: create, delete, setRolePermissions", async () => {
      const h = await Harness.init();
      const P = (id: string): AuditResource => ({ type: "permission", id });
      const created = await call(h, "/v2/permissions.createPermission", { name: "Read", slug: "x.read" });
      const read: string = created.body.data.permissionId;
      await expectRequestEvents(h, created, [{ event: "permission.create", resources: [P(read)] }]);

      const role = await call(h, "/v2/permissions.createRole", { name: "editor", permissions: ["x.read", "x.write"] });
      const roleId: string = role.body.data.roleId;
      const write = (await env.DB.prepare("SELECT id FROM permissions WHERE workspace_id = ? AND slug = 'x.write'").bind(h.workspaceId).first<{ id: string }>())!.id;
      const R: AuditResource = { type: "role", id: roleId };
      await expectRequestEvents(h, role, [
        { event: "role.create", resources: [R] },
        { event: "permission.create", resources: [P(write)] },
        { event: "authorization.connect_role_and_permission", resources: [R, P(read)] },
        { event: "authorization.connect_role_and_permission", resources: [R, P(write)] },
      ]);

      const set = await call(h, "/v2/permissions.setRolePermissions", { roleId, permissions: ["x.write", "x.admin"] });
      const admin = (await env.DB.prepare("SELECT id FROM permissions WHERE workspace_id = ? AND slug = 'x.admin'").bind(h.workspaceId).first<{ id: string }>())!.id;
      await expectRequestEvents(h, set, [
        { event: "permission.create", resources: [P(admin)] },
        { event: "authorization.disconnect_role_and_permissions", resources: [R, P(read)] },
        { event: "authorization.connect_role_and_permission", resources: [R, P(admin)] },
      ]);

      await expectRequestEvents(h, await call(h, "/v2/permissions.deletePermission", { permission: "x.read" }), [{ event: "permission.delete", resources: [P(read)] }]);
      await expectRequestEvents(h, await call(h, "/v2/permissions.deleteRole", { role: "editor" }), [{ event: "role.delete", resources: [R] }]);
    });

    it("rate limits: a namespace created on first use, overrides set, updated and deleted", async () => {
      const h = await Harness.init();
      const first = await call(h, "/v2/ratelimit.limit", { namespace: "api.calls", identifier: "user_1", limit: 10, duration: 60_000 });
      const nsId = (await env.DB.prepare("SELECT id FROM ratelimit_namespaces WHERE workspace_id = ? AND name = 'api.calls'").bind(h.workspaceId).first<{ id: string }>())!.id;
      const NS: AuditResource = { type: "ratelimitNamespace", id: nsId };
      await expectRequestEvents(h, first, [{ event: "ratelimitNamespace.create", resources: [NS] }]);
      // The namespace exists now: limiting records nothing.
      await expectRequestEvents(h, await call(h, "/v2/ratelimit.limit", { namespace: "api.calls", identifier: "user_1", limit: 10, duration: 60_000 }), []);

      const set = await call(h, "/v2/ratelimit.setOverride", { namespace: "api.calls", identifier: "user_*", limit: 100, duration: 60_000 });
      const OV: AuditResource = { type: "ratelimitOverride", id: set.body.data.overrideId };
      await expectRequestEvents(h, set, [{ event: "ratelimit.set_override", resources: [NS, OV], meta: { limit: 100, duration: 60_000 } }]);
      const reset = await call(h, "/v2/ratelimit.setOverride", { namespace: nsId, identifier: "user_*", limit: 5, duration: 1_000 });
      expect(reset.body.data.overrideId).toBe(OV.id);
      await expectRequestEvents(h, reset, [{ event: "ratelimit.set_override", resources: [NS, OV], meta: { limit: 5, duration: 1_000 } }]);
      await expectRequestEvents(h, await call(h, "/v2/ratelimit.deleteOverride", { namespace: "api.calls", identifier: "user_*" }), [
        { event: "ratelimit.delete_override", resources: [NS, OV] },
      ]);
    });

    it("root keys: create and delete, in the administered workspace's log; a repeated delete records nothing", async () => {
      const h = await Harness.init();
      const created = await call(h, "/v2/rootKeys.createRootKey", { name: "ci", permissions: ["api.*.read_key", `api.${h.apiId}.verify_key`] });
      const R: AuditResource = { type: "rootKey", id: created.body.data.keyId };
      await expectRequestEvents(h, created, [
        { event: "rootKey.create", resources: [R], meta: { permissions: ["api.*.read_key", `api.${h.apiId}.verify_key`], permissionCount: 2 } },
      ]);
      await expectRequestEvents(h, await call(h, "/v2/rootKeys.deleteRootKey", { keyId: R.id }), [{ event: "rootKey.delete", resources: [R] }]);
      const again = await h.post("/v2/rootKeys.deleteRootKey", { keyId: R.id }, { headers: HEADERS });
      expect(again.status).toBe(404);
      expect((await allEvents(h)).filter((e) => e.event === "rootKey.delete")).toHaveLength(1);
    });

    it("key.decrypt for every plaintext getKey and apis.listKeys hand out", async () => {
      const h = await optedIn();
      const a = await h.createKey({ recoverable: true });
      const b = await h.createKey({ recoverable: true });
      const got = await call(h, "/v2/keys.getKey", { keyId: a.keyId, decrypt: true });
      expect(got.body.data.plaintext).toBe(a.key);
      await expectRequestEvents(h, got, [{ event: "key.decrypt", resources: [key(a.keyId)] }]);
      // Reading without decrypt records nothing.
      await expectRequestEvents(h, await call(h, "/v2/keys.getKey", { keyId: a.keyId }), []);

      const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true });
      expect(listed.status).toBe(200);
      const decrypts = (await allEvents(h)).filter((e) => e.requestId === listed.body.meta.requestId);
      expect(decrypts.map((e) => e.event)).toEqual(["key.decrypt", "key.decrypt"]);
      expect(decrypts.map((e) => e.resources[0]!.id).sort()).toEqual([a.keyId, b.keyId].sort());
      expect(decrypts[0]!.actor).toEqual({ type: "rootkey", id: await rootKeyId(h.rootKey) });
    });

    it("concurrent first uses of one externalId record one identity.create", async () => {
      const h = await Harness.init();
      await Promise.all([1, 2, 3, 4].map(() => h.createKey({ externalId: "raced" })));
      const events = await allEvents(h);
      expect(events.filter((e) => e.event === "key.create")).toHaveLength(4);
      expect(events.filter((e) => e.event === "identity.create")).toHaveLength(1);
    });
  });

  describe("no change without its record", () => {
    it("an outbox write that fails makes the whole mutation fail: nothing changes", async () => {
      const h = await Harness.init();
      const { keyId, key: plaintext } = await h.createKey({ name: "before" });
      const trigger = `fail_outbox_${h.workspaceId}`;
      await env.DB.prepare(
        `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_outbox WHEN NEW.workspace_id = '${h.workspaceId}' BEGIN SELECT RAISE(ABORT, 'audit outbox unavailable'); END`,
      ).run();
      try {
        const keys = () => count("SELECT count(*) AS n FROM keys WHERE workspace_id = ?", h.workspaceId);
        const identities = () => count("SELECT count(*) AS n FROM identities WHERE workspace_id = ?", h.workspaceId);
        const [keysBefore, identitiesBefore] = [await keys(), await identities()];

        const created = await h.post("/v2/keys.createKey", { apiId: h.apiId, externalId: "never", permissions: ["never.created"] });
        expect(created.status).toBeGreaterThanOrEqual(500);
        expect(created.body.data).toBeUndefined();
        expect(await keys()).toBe(keysBefore);
        expect(await identities()).toBe(identitiesBefore);
        expect(await count("SELECT count(*) AS n FROM permissions WHERE workspace_id = ?", h.workspaceId)).toBe(0);

        expect((await h.post("/v2/keys.updateKey", { keyId, name: "after", enabled: false })).status).toBeGreaterThanOrEqual(500);
        expect((await h.post("/v2/keys.getKey", { keyId })).body.data).toMatchObject({ name: "before", enabled: true });
        expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBeGreaterThanOrEqual(500);
        expect((await h.verify(plaintext)).code).toBe("VALID");
        expect((await h.post("/v2/identities.createIdentity", { externalId: "nope" })).status).toBeGreaterThanOrEqual(500);
        expect(await identities()).toBe(identitiesBefore);
        const rootKeys = () => count("SELECT count(*) AS n FROM keys WHERE for_workspace_id = ? AND deleted_at IS NULL", h.workspaceId);
        const rootKeysBefore = await rootKeys();
        expect((await h.post("/v2/rootKeys.createRootKey", { permissions: ["api.*.read_key"] })).status).toBeGreaterThanOrEqual(500);
        expect(await rootKeys()).toBe(rootKeysBefore);
        expect((await h.post("/v2/permissions.createRole", { name: "r" })).status).toBeGreaterThanOrEqual(500);
        expect(await count("SELECT count(*) AS n FROM roles WHERE workspace_id = ?", h.workspaceId)).toBe(0);
      } finally {
        await env.DB.prepare(`DROP TRIGGER ${trigger}`).run();
      }
      expect((await allEvents(h)).filter((e) => e.event !== "api.create" && e.event !== "api.update").map((e) => e.event)).toEqual(["key.create"]);
      expect((await h.post("/v2/auditlogs.verifyChain", {})).body.data.valid).toBe(true);
    });

    it("changes outside D1 (credits, decryption) fail with 503 and change or reveal nothing when the log cannot be written", async () => {
      const h = await optedIn();
      const broken = brokenAuditApp();
      const { keyId, key: plaintext } = await h.createKey({ recoverable: true, credits: { remaining: 10 } });

      const topUp = await broken("/v2/keys.updateCredits", { keyId, operation: "increment", value: 5 }, h.rootKey);
      expect(topUp.status).toBe(503);
      expect(topUp.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/service_unavailable");
      const patched = await broken("/v2/keys.updateKey", { keyId, credits: { remaining: 1 } }, h.rootKey);
      expect(patched.status).toBe(503);
      expect((await h.post("/v2/keys.getKey", { keyId })).body.data.credits.remaining).toBe(10);

      const revealed = await broken("/v2/keys.getKey", { keyId, decrypt: true }, h.rootKey);
      expect(revealed.status).toBe(503);
      expect(JSON.stringify(revealed.body)).not.toContain(plaintext);
      const listed = await broken("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true }, h.rootKey);
      expect(listed.status).toBe(503);
      expect(JSON.stringify(listed.body)).not.toContain(plaintext);
      expect((await allEvents(h)).filter((e) => e.event === "key.decrypt" || e.event === "key.update")).toEqual([]);
    });

    it("a relay that fails after the commit still answers 200; the event waits in D1 and appears on the next listLogs", async () => {
      const h = await Harness.init();
      const broken = brokenAuditApp();
      const { keyId } = await h.createKey();
      const pending = () => count("SELECT count(*) AS n FROM audit_outbox WHERE workspace_id = ?", h.workspaceId);

      const updated = await broken("/v2/keys.updateKey", { keyId, name: "renamed" }, h.rootKey);
      expect(updated.status).toBe(200);
      expect((await h.post("/v2/keys.getKey", { keyId })).body.data.name).toBe("renamed");
      expect(await pending()).toBe(1);
      // A reader through the broken object is refused rather than shown a log missing the pending event.
      expect((await broken("/v2/auditlogs.listLogs", {}, h.rootKey)).status).toBe(503);

      const events = await allEvents(h);
      expect(events.filter((e) => e.event.startsWith("key.")).map((e) => e.event)).toEqual(["key.create", "key.update"]);
      expect(events.at(-1)).toMatchObject({ event: "key.update", requestId: updated.body.meta.requestId, remoteIp: IP, userAgent: UA });
      expect(await pending()).toBe(0);
      expect((await h.post("/v2/auditlogs.verifyChain", {})).body.data).toMatchObject({ valid: true, count: events.length });
    });
  });

  it("vault.rewrap records one event per data key re-wrapped, in the log of the key's workspace, naming the operator's root key", async () => {
    const owner = await optedIn();
    await owner.createKey({ recoverable: true });
    const dek = (await env.DB.prepare("SELECT id FROM vault_deks WHERE workspace_id = ?").bind(owner.workspaceId).first<{ id: string }>())!.id;
    // An operator's root key (of the internal workspace) re-wraps every workspace's data key.
    const operator = { rootKey: await owner.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID) };
    const rewrap = async (secret: string) => {
      const app = createApp();
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(BASE_URL + "/v2/vault.rewrap", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${operator.rootKey}`, ...HEADERS },
          body: "{}",
        }),
        { ...env, VAULT_MASTER_KEYS: secret } as Env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
      return (await res.json()) as { meta: { requestId: string }; data: { remaining: number } };
    };
    const fresh = `kek_audit_rotation:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const rotated = await rewrap(`${fresh},${env.VAULT_MASTER_KEYS}`);
    // Moved back under the test KEK, so the file's other workspaces keep decrypting.
    const restored = await rewrap(`${env.VAULT_MASTER_KEYS},${fresh}`);
    expect(restored.data.remaining).toBe(0);

    const events = (await allEvents(owner)).filter((e) => e.event === "vault.rewrap");
    expect(events.map((e) => e.requestId)).toEqual([rotated.meta.requestId, restored.meta.requestId]);
    for (const e of events) {
      expect(e).toMatchObject({
        workspaceId: owner.workspaceId,
        actor: { type: "rootkey", id: await rootKeyId(operator.rootKey) },
        resources: [{ type: "workspace", id: owner.workspaceId }],
        meta: { dekId: dek, rewrapped: true },
        remoteIp: IP,
      });
    }
    expect((await owner.post("/v2/auditlogs.verifyChain", {})).body.data.valid).toBe(true);
  });

  it("no plaintext key appears in any audit event or outbox row", async () => {
    const h = await optedIn();
    const secrets: string[] = [h.rootKey];
    const plain = await h.createKey({ prefix: "sk_live", name: "n", externalId: "cust_scan" });
    const recoverable = await h.createKey({ recoverable: true, byteLength: 32 });
    secrets.push(plain.key, recoverable.key);
    const rerolled = await call(h, "/v2/keys.rerollKey", { keyId: plain.keyId, expiration: 0 });
    secrets.push(rerolled.body.data.key);
    expect((await call(h, "/v2/keys.getKey", { keyId: recoverable.keyId, decrypt: true })).body.data.plaintext).toBe(recoverable.key);
    const root = await call(h, "/v2/rootKeys.createRootKey", { permissions: ["api.*.read_key"] });
    secrets.push(root.body.data.key);
    // A user agent carrying a key is redacted before it is recorded.
    expect((await h.post("/v2/keys.updateKey", { keyId: recoverable.keyId, name: "x" }, { headers: { "User-Agent": `curl ${plain.key}` } })).status).toBe(200);
    await call(h, "/v2/keys.deleteKey", { keyId: rerolled.body.data.keyId });

    const events = await allEvents(h);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["key.create", "key.reroll", "key.decrypt", "rootKey.create", "key.update", "key.delete"]));
    const stored: string[] = [];
    for (const id of await listDurableObjectIds(env.AUDIT_LOG)) {
      stored.push(await runInDurableObject(env.AUDIT_LOG.get(id), (_i, state) => JSON.stringify(state.storage.sql.exec("SELECT * FROM audit_events").toArray())));
    }
    const outbox = JSON.stringify((await env.DB.prepare("SELECT * FROM audit_outbox").all()).results);
    const text = [JSON.stringify(events), ...stored, outbox].join("\n");
    expect(text).toContain(recoverable.keyId);
    for (const secret of secrets) {
      expect(text.includes(secret), "an audit event holds a plaintext key").toBe(false);
      expect(text.includes(secret.slice(secret.lastIndexOf("_") + 1)), "an audit event holds a key's random part").toBe(false);
    }
  });
});

describe("api events", () => {
  it("apis.createApi records api.create with the API and its keyspace", async () => {
    const h = await Harness.init({ quietLog: true });
    const apiId = await h.createApi("audited-api");
    const res = await h.post("/v2/auditlogs.listLogs", { events: ["api.create"] });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([
      expect.objectContaining({ event: "api.create", resources: expect.arrayContaining([{ type: "api", id: apiId }]) }),
    ]);
    expect((await h.post("/v2/auditlogs.verifyChain", {})).body.data).toMatchObject({ valid: true, count: 1 });
  });
});
