import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashKey } from "../../../src/lib/hash";
import { ALL_ROOT_PERMISSIONS } from "../../../src/lib/root-permissions";
import type { RootKeysCreateRootKeyResponse } from "../../../src/routes/v2/rootKeys.createRootKey";
import type { RootKeysListRootKeysResponse } from "../../../src/routes/v2/rootKeys.listRootKeys";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/rootKeys.listRootKeys";

async function mint(h: Harness, permissions: string[], name?: string): Promise<{ keyId: string; key: string }> {
  const res = await h.post<RootKeysCreateRootKeyResponse>("/v2/rootKeys.createRootKey", { permissions, ...(name ? { name } : {}) });
  if (res.status !== 200) throw new Error(`createRootKey failed: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function list(h: Harness, body: Record<string, unknown> = {}, key?: string) {
  return h.post<RootKeysListRootKeysResponse>(PATH, body, key === undefined ? {} : { key });
}

describe("rootKeys.listRootKeys", () => {
  describe("happy", () => {
    it("lists the workspace's root keys oldest first, with sorted permissions and never a key or its hash", async () => {
      const h = await Harness.init();
      const a = await mint(h, ["identity.*.read_identity", "api.*.verify_key"], "verifier");
      const b = await mint(h, ["api.*.read_api"]);
      const res = await list(h);
      expect(res.status).toBe(200);
      expect(res.body.pagination).toEqual({ hasMore: false });
      const data = res.body.data;
      // The bootstrap key, then the two new ones, in creation order.
      expect(data.map((k) => k.keyId)).toEqual([...data.map((k) => k.keyId)].sort());
      expect(data.length).toBe(3);
      expect(data[0]!.permissions).toEqual([...ALL_ROOT_PERMISSIONS].sort());
      expect(data[1]).toEqual({
        keyId: a.keyId,
        start: expect.any(String),
        name: "verifier",
        createdAt: expect.any(Number),
        permissions: ["api.*.verify_key", "identity.*.read_identity"],
      });
      expect(a.key.startsWith(data[1]!.start)).toBe(true);
      expect(data[1]!.start.length).toBeLessThan(a.key.length);
      expect(data[2]).toEqual({ keyId: b.keyId, start: expect.any(String), createdAt: expect.any(Number), permissions: ["api.*.read_api"] });
      const text = JSON.stringify(res.body);
      for (const secret of [a.key, b.key, h.rootKey, await hashKey(a.key), await hashKey(h.rootKey)]) expect(text).not.toContain(secret);
      expect(text).not.toContain("null");
    });

    it("shows only this workspace's keys, and no deleted ones", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      const foreign = await mint(theirs, ["api.*.read_api"]);
      const gone = await mint(h, ["api.*.read_api"]);
      const kept = await mint(h, ["api.*.read_key"]);
      expect((await h.post("/v2/rootKeys.deleteRootKey", { keyId: gone.keyId })).status).toBe(200);
      const ids = (await list(h)).body.data.map((k) => k.keyId);
      expect(ids).toContain(kept.keyId);
      expect(ids).not.toContain(gone.keyId);
      expect(ids).not.toContain(foreign.keyId);
      expect((await list(theirs)).body.data.map((k) => k.keyId)).toContain(foreign.keyId);
    });

    it("pages with limit and cursor until hasMore is false", async () => {
      const h = await Harness.init();
      for (let i = 0; i < 4; i++) await mint(h, ["api.*.read_api"], `k${i}`);
      const all = (await list(h)).body.data.map((k) => k.keyId);
      expect(all.length).toBe(5);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await list(h, { limit: 2, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        seen.push(...res.body.data.map((k) => k.keyId));
        if (!res.body.pagination.hasMore) {
          expect(res.body.pagination.cursor).toBeUndefined();
          break;
        }
        expect(res.body.data.length).toBe(2);
        cursor = res.body.pagination.cursor;
        expect(cursor).toBeTruthy();
      }
      expect(seen).toEqual(all);
    });

    it("works with a key that may only read root keys, and that key works through Unkey's SDK elsewhere", async () => {
      const h = await Harness.init();
      const reader = await mint(h, ["rootkey.*.read_root_key", "api.*.read_api"]);
      const res = await list(h, {}, reader.key);
      expect(res.status).toBe(200);
      expect(res.body.data.find((k) => k.keyId === reader.keyId)?.permissions).toEqual(["api.*.read_api", "rootkey.*.read_root_key"]);
      expect((await h.sdk(reader.key).apis.getApi({ apiId: h.apiId })).data.id).toBe(h.apiId);
    });

    it("is documented in /openapi.json as a Latch extension", async () => {
      await Harness.init();
      const doc: any = await (await exports.default.fetch(new Request("http://latch.test/openapi.json"))).json();
      const op = doc.paths[PATH].post;
      expect(op.tags).toEqual(["rootKeys"]);
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.description).toContain("rootkey.*.read_root_key");
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, cursor or unknown field", async () => {
      const h = await Harness.init();
      for (const body of [{ limit: 0 }, { limit: 101 }, { limit: 1.5 }, { cursor: "" }, { cursor: 5 }, { search: "x" }]) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.length).toBeGreaterThan(0);
      }
    });

    it("a cursor past the end is an empty last page", async () => {
      const h = await Harness.init();
      const res = await list(h, { cursor: "key_zzzzzzzzzzzzzzzzzzzz" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ data: [], pagination: { hasMore: false } });
    });
  });

  describeSecurity({
    operation: "rootKeys.listRootKeys",
    setup: async () => ({ body: {} }),
    grant: () => ["rootkey.*.read_root_key"],
  });
});
