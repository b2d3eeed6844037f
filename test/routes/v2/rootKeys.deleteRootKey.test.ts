import * as errors from "@unkey/api/models/errors";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import type { RootKeysCreateRootKeyResponse } from "../../../src/routes/v2/rootKeys.createRootKey";
import type { RootKeysListRootKeysResponse } from "../../../src/routes/v2/rootKeys.listRootKeys";
import { recordCache } from "../../../src/services/cache";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/rootKeys.deleteRootKey";
const ERR = "https://unkey.com/docs/errors/";

async function mint(h: Harness, permissions: string[]): Promise<{ keyId: string; key: string }> {
  const res = await h.post<RootKeysCreateRootKeyResponse>("/v2/rootKeys.createRootKey", { permissions });
  if (res.status !== 200) throw new Error(`createRootKey failed: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/** A request made with `key`: 200 while it is valid. */
async function use(h: Harness, key: string) {
  return h.post("/v2/apis.getApi", { apiId: h.apiId }, { key });
}

function expectRevoked(res: { status: number; body: any }): void {
  expect(res.status).toBe(401);
  expect(res.body.error.type).toBe(`${ERR}unkey/authentication/key_not_found`);
}

describe("rootKeys.deleteRootKey", () => {
  describe("happy", () => {
    it("revokes at once on this isolate: the very next request with the key is a 401", async () => {
      const h = await Harness.init();
      const victim = await mint(h, ["api.*.read_api"]);
      expect((await use(h, victim.key)).status).toBe(200); // now cached on this isolate
      const res = await h.post(PATH, { keyId: victim.keyId });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: {} });
      expectRevoked(await use(h, victim.key));
      const listed = await h.post<RootKeysListRootKeysResponse>("/v2/rootKeys.listRootKeys", {});
      expect(listed.body.data.map((k) => k.keyId)).not.toContain(victim.keyId);
    });

    it("revokes on a cold isolate through KV, which holds a tombstone; the row is soft-deleted with a new revision", async () => {
      const h = await Harness.init();
      const victim = await mint(h, ["api.*.read_api"]);
      expect((await use(h, victim.key)).status).toBe(200);
      const before = await env.DB.prepare("SELECT revision FROM keys WHERE id = ?").bind(victim.keyId).first<{ revision: number }>();
      expect((await h.post(PATH, { keyId: victim.keyId })).status).toBe(200);
      const entry = await env.EDGE.get(`key:hash:${await hashKey(victim.key)}`, "json");
      expect(entry).toEqual({ v: 1, tombstone: true, revision: before!.revision + 1 });
      const row = await env.DB.prepare("SELECT deleted_at, revision FROM keys WHERE id = ?").bind(victim.keyId).first<{
        deleted_at: number | null;
        revision: number;
      }>();
      expect(row!.deleted_at).toEqual(expect.any(Number));
      expect(row!.revision).toBe(before!.revision + 1);
      recordCache(5000).clear();
      expectRevoked(await use(h, victim.key));
      // Through Unkey's SDK too.
      await expect(h.sdk(victim.key).apis.getApi({ apiId: h.apiId })).rejects.toBeInstanceOf(errors.UnauthorizedErrorResponse);
    });

    it("leaves the workspace's other root keys working", async () => {
      const h = await Harness.init();
      const victim = await mint(h, ["api.*.read_api"]);
      const bystander = await mint(h, ["api.*.read_api"]);
      await h.post(PATH, { keyId: victim.keyId });
      expect((await use(h, bystander.key)).status).toBe(200);
      expect((await use(h, h.rootKey)).status).toBe(200);
    });

    it("lets a key revoke itself: that request succeeds, the next one is a 401", async () => {
      const h = await Harness.init();
      const self = await mint(h, ["rootkey.*.delete_root_key", "api.*.read_api"]);
      const res = await h.post(PATH, { keyId: self.keyId }, { key: self.key });
      expect(res.status).toBe(200);
      expectRevoked(await use(h, self.key));
      expectRevoked(await h.post(PATH, { keyId: self.keyId }, { key: self.key }));
    });

    it("is documented in /openapi.json as a Latch extension", async () => {
      await Harness.init();
      const doc: any = await (await exports.default.fetch(new Request("http://latch.test/openapi.json"))).json();
      const op = doc.paths[PATH].post;
      expect(op.tags).toEqual(["rootKeys"]);
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.description).toContain("may revoke itself");
    });
  });

  describe("errors", () => {
    it("404 key_not_found for a missing, already deleted, customer or another workspace's key, all alike", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const foreign = await mint(theirs, ["api.*.read_api"]);
      const deleted = await mint(h, ["api.*.read_api"]);
      expect((await h.post(PATH, { keyId: deleted.keyId })).status).toBe(200);
      const customer = await h.createKey();
      const replies: unknown[] = [];
      for (const keyId of ["key_doesNotExist0000000", deleted.keyId, customer.keyId, foreign.keyId]) {
        const res = await h.post(PATH, { keyId });
        expect(res.status, keyId).toBe(404);
        expect(res.body.error.type).toBe(`${ERR}unkey/data/key_not_found`);
        replies.push({ ...res.body.error, detail: res.body.error.detail.replace(keyId, "<id>") });
      }
      expect(replies.every((r) => JSON.stringify(r) === JSON.stringify(replies[0]))).toBe(true);
      // Nothing happened to them.
      expect((await use(theirs, foreign.key)).status).toBe(200);
      expect((await h.verify(customer.key)).valid).toBe(true);
    });

    it("400 for a bad keyId or an unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{}, { keyId: "ab" }, { keyId: "key with spaces" }, { keyId: 7 }, { keyId: "key_x", permanent: true }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });
  });

  describeSecurity({
    operation: "rootKeys.deleteRootKey",
    setup: async (h) => ({ body: { keyId: (await mint(h, ["api.*.read_api"])).keyId } }),
    grant: () => ["rootkey.*.delete_root_key"],
    missing: () => ({ keyId: "key_doesNotExist0000000" }),
  });
});
