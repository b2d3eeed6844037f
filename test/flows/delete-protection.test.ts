/**
 * Delete protection per API (issue 6, item 5): `apis.updateApi {deleteProtection: true}` makes
 * `apis.deleteApi` a 412 `unkey/application/protected_resource` that deletes nothing. There is no bulk key
 * delete besides deleteApi; deleting one key (keys.deleteKey) stays allowed on a protected API.
 */
import * as errors from "@unkey/api/models/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/env";
import { Services } from "../../src/services";
import { Harness } from "../harness";

const ERR = "https://unkey.com/docs/errors/";
const PROTECTED = `${ERR}unkey/application/protected_resource`;

async function protect(h: Harness, deleteProtection: unknown, apiId = h.apiId): Promise<void> {
  const res = await h.post("/v2/apis.updateApi", { apiId, deleteProtection });
  if (res.status !== 200) throw new Error(`updateApi failed: ${res.status} ${JSON.stringify(res.body)}`);
}

async function apiRow(apiId: string): Promise<{ deleted_at: number | null; delete_protection: number }> {
  return (await env.DB.prepare("SELECT deleted_at, delete_protection FROM apis WHERE id = ?").bind(apiId).first())!;
}

async function liveKeyCount(apiId: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT count(*) AS n FROM keys k JOIN apis a ON a.keyspace_id = k.keyspace_id WHERE a.id = ? AND k.deleted_at IS NULL",
  )
    .bind(apiId)
    .first<{ n: number }>();
  return row!.n;
}

/** The 412 and the proof that nothing changed: the API reads back, its keys still verify and list. */
async function expectProtected(h: Harness, keys: { key: string }[], apiId = h.apiId, rootKey = h.rootKey): Promise<void> {
  const res = await h.post("/v2/apis.deleteApi", { apiId }, { key: rootKey });
  expect(res.status, JSON.stringify(res.body)).toBe(412);
  expect(res.body.error).toMatchObject({ status: 412, title: "Resource is protected", type: PROTECTED });
  expect(res.body.error.detail).toContain(apiId);
  expect(res.body.error.detail).toContain("deleteProtection");
  expect((await apiRow(apiId)).deleted_at).toBeNull();
  expect((await h.post("/v2/apis.getApi", { apiId })).status).toBe(200);
  for (const k of keys) expect((await h.verify(k.key)).code).toBe("VALID");
  expect(await liveKeyCount(apiId)).toBe(keys.length);
}

describe("delete protection", () => {
  describe("happy", () => {
    it("a protected API cannot be deleted (412, nothing deleted); once unprotected it can", async () => {
      const h = await Harness.init();
      const keys = [await h.createKey(), await h.createKey({ credits: { remaining: 5 } })];
      await protect(h, true);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api", deleteProtection: true });
      await expectProtected(h, keys);
      expect((await h.post("/v2/apis.listKeys", { apiId: h.apiId })).body.data).toHaveLength(2);

      await protect(h, false);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api" });
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(200);
      for (const k of keys) expect(await h.verify(k.key)).toEqual({ valid: false, code: "NOT_FOUND" });
    });

    it("turning it on and off is audited (api.update), a refused delete leaves no api.delete, a real one does", async () => {
      const h = await Harness.init();
      await protect(h, true);
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(412);
      await protect(h, false);
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(200);
      const events = (await h.post("/v2/auditlogs.listLogs", { resourceId: h.apiId })).body.data as any[];
      expect(events.map((e) => [e.event, e.meta])).toEqual([
        ["api.delete", undefined],
        ["api.update", { fields: ["deleteProtection"], deleteProtection: false }],
        ["api.update", { fields: ["deleteProtection"], deleteProtection: true }],
        ["api.create", { storeEncryptedKeys: false }],
      ]);
      expect((await h.post("/v2/auditlogs.verifyChain", {})).body.data.valid).toBe(true);
    });

    it("Unkey's SDK gets its typed 412 error", async () => {
      const h = await Harness.init();
      await protect(h, true);
      const unkey = h.sdk();
      const err = await unkey.apis.deleteApi({ apiId: h.apiId }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(errors.PreconditionFailedErrorResponse);
      expect((err as errors.PreconditionFailedErrorResponse).error.type).toBe(PROTECTED);
      expect((await unkey.apis.getApi({ apiId: h.apiId })).data).toEqual({ id: h.apiId, name: "test-api" });
    });

    it("single keys of a protected API can still be deleted (only bulk deletes are refused)", async () => {
      const h = await Harness.init();
      const keep = await h.createKey();
      const drop = await h.createKey();
      await protect(h, true);
      expect((await h.post("/v2/keys.deleteKey", { keyId: drop.keyId })).status).toBe(200);
      expect(await h.verify(drop.key)).toEqual({ valid: false, code: "NOT_FOUND" });
      await expectProtected(h, [keep]);
    });

    it("protection is per API and independent of the other settings", async () => {
      const h = await Harness.init();
      const other = await h.createApi();
      await protect(h, true);
      // Other settings changes leave the protection as it is.
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist: ["10.0.0.0/8"], leakedKeyAction: "disable" })).status).toBe(200);
      expect((await apiRow(h.apiId)).delete_protection).toBe(1);
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId })).status).toBe(200);
      expect((await apiRow(h.apiId)).delete_protection).toBe(1);
      await expectProtected(h, []);
      // Idempotent, and the other API is not protected.
      await protect(h, true);
      expect((await h.post("/v2/apis.deleteApi", { apiId: other })).status).toBe(200);
    });
  });

  describe("errors", () => {
    it("400 for a deleteProtection that is not a boolean, and nothing changes", async () => {
      const h = await Harness.init();
      for (const value of ["true", 1, null, {}]) {
        const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, deleteProtection: value });
        expect(res.status, JSON.stringify(value)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.deleteProtection");
      }
      expect((await apiRow(h.apiId)).delete_protection).toBe(0);
    });

    it("404, not 412, for a missing API or another workspace's protected API", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      await protect(other, true);
      const foreign = await h.post("/v2/apis.deleteApi", { apiId: other.apiId });
      expect(foreign.status).toBe(404);
      expect(foreign.body.error.type).toBe(`${ERR}unkey/data/api_not_found`);
      const missing = await h.post("/v2/apis.deleteApi", { apiId: "api_doesNotExist0000000" });
      expect(missing.status).toBe(404);
      expect((await apiRow(other.apiId)).deleted_at).toBeNull();
    });

    it("404 for a deleted API even though it was protected at some point", async () => {
      const h = await Harness.init();
      await protect(h, true);
      await protect(h, false);
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(200);
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, deleteProtection: true })).status).toBe(404);
      expect((await h.post("/v2/apis.deleteApi", { apiId: h.apiId })).status).toBe(404);
    });
  });

  describe("security", () => {
    it("a root key that may delete but not update the API cannot lift the protection", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await protect(h, true);
      const deleter = await h.createRootKey(["api.*.delete_api", "api.*.read_api"]);
      const lift = await h.post("/v2/apis.updateApi", { apiId: h.apiId, deleteProtection: false }, { key: deleter });
      expect(lift.status).toBe(403);
      expect(lift.body.error.type).toBe(`${ERR}unkey/authorization/insufficient_permissions`);
      await expectProtected(h, [{ key }], h.apiId, deleter);
    });

    it("setting the protection needs update_api on that API; without it, a 403 and the API stays deletable", async () => {
      const h = await Harness.init();
      const otherApi = await h.createApi();
      const wrongApi = await h.createRootKey([`api.${otherApi}.update_api`]);
      const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, deleteProtection: true }, { key: wrongApi });
      expect(res.status).toBe(403);
      expect((await apiRow(h.apiId)).delete_protection).toBe(0);
      const narrow = await h.createRootKey([`api.${h.apiId}.update_api`]);
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, deleteProtection: true }, { key: narrow })).status).toBe(200);
      await expectProtected(h, []);
    });

    it("protection turned on after the API was read still wins: the batch itself checks it", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const services = new Services({ env, config: readConfig(env as unknown as Record<string, unknown>), waitUntil: () => undefined });
      const snapshot = await services.apis.get(h.workspaceId, h.apiId);
      expect(snapshot.deleteProtection).toBe(false);
      // Another request protects the API between this one's read and its write.
      await protect(h, true);
      const ctx = { workspaceId: h.workspaceId, actor: { type: "system" as const, id: "test" }, requestId: "req_test" };
      const err = await services.apis.delete(snapshot, ctx).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "PROTECTED_RESOURCE" });
      expect((await apiRow(h.apiId)).deleted_at).toBeNull();
      expect(await liveKeyCount(h.apiId)).toBe(1);
      expect((await h.verify(key)).code).toBe("VALID");
      // And no api.delete event was recorded for the delete that did not happen.
      await services.flushAudit();
      const logged = (await h.post("/v2/auditlogs.listLogs", { events: ["api.delete"] })).body.data;
      expect(logged).toEqual([]);
    });
  });
});
