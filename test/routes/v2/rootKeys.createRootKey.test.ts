import * as errors from "@unkey/api/models/errors";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import { ALL_ROOT_PERMISSIONS } from "../../../src/lib/root-permissions";
import type { RootKeysCreateRootKeyResponse } from "../../../src/routes/v2/rootKeys.createRootKey";
import type { RootKeysListRootKeysResponse } from "../../../src/routes/v2/rootKeys.listRootKeys";
import { Harness, INTERNAL_WORKSPACE_ID } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/rootKeys.createRootKey";
const ERR = "https://unkey.com/docs/errors/";
const CREATE = "rootkey.*.create_root_key";

async function listed(h: Harness): Promise<RootKeysListRootKeysResponse["data"]> {
  const res = await h.post<RootKeysListRootKeysResponse>("/v2/rootKeys.listRootKeys", {});
  expect(res.status).toBe(200);
  return res.body.data;
}

/** Untyped reply: error cases read `body.error`; successes are checked against the response type. */
async function create(h: Harness, body: unknown, key?: string) {
  return h.post(PATH, body, key === undefined ? {} : { key });
}

describe("rootKeys.createRootKey", () => {
  describe("happy", () => {
    it("returns a new root key once, holding exactly the requested permissions for this workspace", async () => {
      const h = await Harness.init();
      const res = await create(h, { name: "reader", permissions: ["api.*.read_api"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const data: RootKeysCreateRootKeyResponse["data"] = res.body.data;
      const { keyId, key } = data;
      expect(Object.keys(res.body.data).sort()).toEqual(["key", "keyId"]);
      expect(keyId).toMatch(/^key_/);
      expect(key).toMatch(/^latch_root_[1-9A-HJ-NP-Za-km-z]+$/);

      // Through Unkey's SDK: the key administers this workspace with what it was given, and nothing else.
      const api = await h.sdk(key).apis.getApi({ apiId: h.apiId });
      expect(api.data).toEqual({ id: h.apiId, name: "test-api" });
      await expect(h.sdk(key).apis.createApi({ name: "nope" })).rejects.toBeInstanceOf(errors.ForbiddenErrorResponse);

      // Stored as a hash in the internal keyspace, never as plaintext.
      const row = await env.DB.prepare("SELECT * FROM keys WHERE id = ?").bind(keyId).first<Record<string, unknown>>();
      expect(row).toMatchObject({
        workspace_id: INTERNAL_WORKSPACE_ID,
        keyspace_id: "ks_latch_root",
        for_workspace_id: h.workspaceId,
        hash: await hashKey(key),
        name: "reader",
        deleted_at: null,
      });
      expect(JSON.stringify(row)).not.toContain(key);

      const mine = (await listed(h)).find((k) => k.keyId === keyId);
      expect(mine).toMatchObject({ keyId, name: "reader", permissions: ["api.*.read_api"], start: key.slice(0, mine!.start.length) });
    });

    it("lets a wildcard holder grant the same action on one API, which then works only there", async () => {
      const h = await Harness.init();
      const caller = await h.createRootKey([CREATE, "api.*.read_api"]);
      const res = await create(h, { permissions: [`api.${h.apiId}.read_api`] }, caller);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const narrow = res.body.data.key;
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId }, { key: narrow })).status).toBe(200);
      const other = await h.createApi();
      const refused = await h.post("/v2/apis.getApi", { apiId: other }, { key: narrow });
      expect(refused.status).toBe(403);
      expect(refused.body.error.type).toBe(`${ERR}unkey/authorization/insufficient_permissions`);
    });

    it("lets a key pass on a specific permission it holds exactly", async () => {
      const h = await Harness.init();
      const caller = await h.createRootKey([CREATE, `api.${h.apiId}.read_key`]);
      const res = await create(h, { permissions: [`api.${h.apiId}.read_key`] }, caller);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    });

    it("lets the bootstrap key grant everything it holds, root-key management included", async () => {
      const h = await Harness.init();
      const res = await create(h, { permissions: [...ALL_ROOT_PERMISSIONS] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const child = res.body.data.key;
      // The child can itself mint and list root keys.
      const grandchild = await create(h, { permissions: ["identity.*.read_identity"] }, child);
      expect(grandchild.status).toBe(200);
      const list = await h.post<RootKeysListRootKeysResponse>("/v2/rootKeys.listRootKeys", {}, { key: child });
      expect(list.body.data.find((k) => k.keyId === res.body.data.keyId)?.permissions).toEqual([...ALL_ROOT_PERMISSIONS].sort());
    });

    it("grants rate-limit permissions for an existing namespace by id, and deduplicates the list", async () => {
      const h = await Harness.init();
      const limited = await h.post("/v2/ratelimit.limit", { namespace: "sms", identifier: "u1", limit: 5, duration: 60_000 });
      expect(limited.status).toBe(200);
      const override = await h.post("/v2/ratelimit.setOverride", { namespace: "sms", identifier: "u1", limit: 1, duration: 60_000 });
      const nsId = (await env.DB.prepare("SELECT namespace_id FROM ratelimit_overrides WHERE id = ?").bind(override.body.data.overrideId).first<{
        namespace_id: string;
      }>())!.namespace_id;
      const perm = `ratelimit.${nsId}.limit`;
      const res = await create(h, { permissions: [perm, perm, perm] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const mine = (await listed(h)).find((k) => k.keyId === res.body.data.keyId);
      expect(mine?.permissions).toEqual([perm]);
      const use = await h.post("/v2/ratelimit.limit", { namespace: "sms", identifier: "u2", limit: 5, duration: 60_000 }, { key: res.body.data.key });
      expect(use.status, JSON.stringify(use.body)).toBe(200);
    });

    it("is documented in /openapi.json as a Latch extension, with the grant rule", async () => {
      await Harness.init();
      const doc: any = await (await exports.default.fetch(new Request("http://latch.test/openapi.json"))).json();
      const op = doc.paths["/v2/rootKeys.createRootKey"].post;
      expect(op.tags).toEqual(["rootKeys"]);
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.description).toContain("can never grant more than it holds");
      expect(op.description).toContain("rootkey.*.create_root_key");
    });

    it("accepts the maximum of 1000 permissions, all stored and all in force", async () => {
      const h = await Harness.init();
      const actions = ["read_api", "read_key", "create_key", "update_key", "delete_key", "verify_key", "encrypt_key", "decrypt_key", "read_analytics", "update_api"];
      const apiIds = [h.apiId];
      while (apiIds.length < 100) apiIds.push(await h.createApi(`api-${apiIds.length}`));
      const permissions = apiIds.flatMap((id) => actions.map((a) => `api.${id}.${a}`));
      expect(permissions.length).toBe(1000);
      const res = await create(h, { permissions });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      const mine = (await listed(h)).find((k) => k.keyId === res.body.data.keyId);
      expect(mine?.permissions).toEqual([...permissions].sort());
      for (const apiId of [apiIds[0]!, apiIds[99]!]) {
        expect((await h.post("/v2/apis.getApi", { apiId }, { key: res.body.data.key })).status).toBe(200);
      }
    });

    it("omits name when none is given", async () => {
      const h = await Harness.init();
      const res = await create(h, { permissions: ["api.*.read_api"] });
      const mine = (await listed(h)).find((k) => k.keyId === res.body.data.keyId);
      expect(mine).toBeDefined();
      expect(mine).not.toHaveProperty("name");
    });
  });

  describe("errors", () => {
    it("400 naming each malformed or unknown permission", async () => {
      const h = await Harness.init();
      const bad = ["api.*.read_keys", "nope.*.read_key", "api.*", "api.api-1.read_key", "*", "identity.id_1.read_identity", "", "api.*.*"];
      for (const entry of bad) {
        const res = await create(h, { permissions: ["api.*.read_api", entry] });
        expect(res.status, entry).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect(res.body.error.errors).toEqual([expect.objectContaining({ location: "body.permissions[1]" })]);
        expect(res.body.error.detail).toContain("body.permissions[1]");
      }
    });

    it("400 for a malformed body", async () => {
      const h = await Harness.init();
      const bodies = [
        {},
        { permissions: [] },
        { permissions: "api.*.read_api" },
        { permissions: [42] },
        { permissions: Array.from({ length: 1001 }, () => "api.*.read_api") },
        { permissions: ["api.*.read_api"], name: "" },
        { permissions: ["api.*.read_api"], name: "x".repeat(256) },
        { permissions: ["api.*.read_api"], workspaceId: "ws_other" },
      ];
      for (const body of bodies) {
        const res = await create(h, body);
        expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });

    it("403 naming every permission the caller may not grant, and creates nothing", async () => {
      const h = await Harness.init();
      const caller = await h.createRootKey([CREATE, "api.*.read_key", `api.${h.apiId}.read_api`]);
      const before = (await listed(h)).length;
      const cases: Array<[string[], string[]]> = [
        [["api.*.read_key", "api.*.read_api"], ["api.*.read_api"]],
        [["rootkey.*.delete_root_key"], ["rootkey.*.delete_root_key"]],
        [["api.*.read_key", "identity.*.read_identity", "rootkey.*.create_root_key", "api.*.verify_key"], ["identity.*.read_identity", "api.*.verify_key"]],
      ];
      for (const [requested, refused] of cases) {
        const res = await create(h, { permissions: requested }, caller);
        expect(res.status, requested.join()).toBe(403);
        expect(res.body.error.type).toBe(`${ERR}unkey/authorization/insufficient_permissions`);
        for (const p of refused) expect(res.body.error.detail).toContain(p);
        for (const p of requested.filter((p) => !refused.includes(p))) expect(res.body.error.detail).not.toContain(p);
      }
      expect((await listed(h)).length).toBe(before);
    });

    it("403 names at most 20 refused permissions and counts the rest", async () => {
      const h = await Harness.init();
      const caller = await h.createRootKey([CREATE]);
      const res = await create(h, { permissions: ALL_ROOT_PERMISSIONS.filter((p) => p !== CREATE) }, caller);
      expect(res.status).toBe(403);
      expect(res.body.error.detail).toContain(`and ${ALL_ROOT_PERMISSIONS.length - 21} more`);
    });

    it("403 when a key holding one API's permission asks for the wildcard or another API", async () => {
      const h = await Harness.init();
      const other = await h.createApi();
      const caller = await h.createRootKey([CREATE, `api.${h.apiId}.read_key`]);
      for (const p of ["api.*.read_key", `api.${other}.read_key`]) {
        const res = await create(h, { permissions: [p] }, caller);
        expect(res.status, p).toBe(403);
        expect(res.body.error.detail).toContain(p);
      }
    });

    it("400 for a permission naming an API or namespace the workspace does not have; another workspace's looks the same", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const deleted = await h.createApi();
      expect((await h.post("/v2/apis.deleteApi", { apiId: deleted })).status).toBe(200);
      const before = (await listed(h)).length;
      const missingApi = "api_doesNotExist000000000";
      const replies: string[] = [];
      for (const id of [missingApi, theirs.apiId, deleted]) {
        const res = await create(h, { permissions: ["api.*.read_api", `api.${id}.read_key`] });
        expect(res.status, id).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect(res.body.error.errors).toEqual([{ location: "body.permissions[1]", message: `the API ${id} does not exist` }]);
        replies.push(res.body.error.detail.replace(id, "<id>"));
      }
      expect(new Set(replies).size).toBe(1);
      const ns = await create(h, { permissions: ["ratelimit.rlns_missing0000000.limit"] });
      expect(ns.status).toBe(400);
      expect(ns.body.error.errors).toEqual([{ location: "body.permissions[0]", message: "the rate-limit namespace rlns_missing0000000 does not exist" }]);
      expect((await listed(h)).length).toBe(before);
    });
  });

  describeSecurity({
    operation: "rootKeys.createRootKey",
    setup: async () => ({ body: { name: "minted", permissions: [CREATE] } }),
    grant: () => [CREATE],
  });
});
