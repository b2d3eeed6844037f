import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { KeysDeleteKeyResponse } from "../../../src/routes/v2/keys.deleteKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const KEY_NOT_FOUND = "https://unkey.com/docs/errors/unkey/data/key_not_found";

async function keyRow(keyId: string): Promise<{ deleted_at: number | null } | null> {
  return env.DB.prepare("SELECT deleted_at FROM keys WHERE id = ?").bind(keyId).first<{ deleted_at: number | null }>();
}

async function ratelimitRows(keyId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM ratelimits WHERE key_id = ?").bind(keyId).first<{ n: number }>();
  return row?.n ?? 0;
}

describe("keys.deleteKey", () => {
  describe("happy", () => {
    it("soft delete: getKey 404, verify NOT_FOUND, the row stays with deleted_at set", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "to-delete" });
      expect((await h.verify(key)).code).toBe("VALID");
      const before = Date.now();
      const res = await h.post<KeysDeleteKeyResponse>("/v2/keys.deleteKey", { keyId });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({});
      expect(res.body).toMatchObject({ meta: { requestId: expect.stringMatching(/^req_/) } });

      const got = await h.post("/v2/keys.getKey", { keyId });
      expect(got.status).toBe(404);
      expect(got.body.error.type).toBe(KEY_NOT_FOUND);
      expect(await h.verify(key)).toEqual({ valid: false, code: "NOT_FOUND" });

      const row = await keyRow(keyId);
      expect(row).not.toBeNull();
      expect(row?.deleted_at).toEqual(expect.any(Number));
      expect(row!.deleted_at!).toBeGreaterThanOrEqual(before);
    });

    it("soft delete is the default (permanent: false explicitly behaves the same)", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const res = await h.post("/v2/keys.deleteKey", { keyId, permanent: false });
      expect(res.status).toBe(200);
      expect((await keyRow(keyId))?.deleted_at).toEqual(expect.any(Number));
      expect((await h.verify(key)).code).toBe("NOT_FOUND");
    });

    it("permanent delete removes the row and its ratelimits", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({
        ratelimits: [
          { name: "requests", limit: 5, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 500, duration: 60_000, autoApply: false },
        ],
      });
      expect(await ratelimitRows(keyId)).toBe(2);
      expect((await h.verify(key)).code).toBe("VALID");

      const res = await h.post<KeysDeleteKeyResponse>("/v2/keys.deleteKey", { keyId, permanent: true });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({});

      expect(await keyRow(keyId)).toBeNull();
      expect(await ratelimitRows(keyId)).toBe(0);
      expect((await h.post("/v2/keys.getKey", { keyId })).status).toBe(404);
      expect(await h.verify(key)).toEqual({ valid: false, code: "NOT_FOUND" });
    });

    it("deleting one key leaves the others of the API alone", async () => {
      const h = await Harness.init();
      const a = await h.createKey();
      const b = await h.createKey();
      expect((await h.post("/v2/keys.deleteKey", { keyId: a.keyId })).status).toBe(200);
      expect((await h.verify(b.key)).code).toBe("VALID");
      expect((await h.post("/v2/keys.getKey", { keyId: b.keyId })).status).toBe(200);
    });

    it("works through Unkey's SDK", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey();
      const res = await h.sdk().keys.deleteKey({ keyId });
      expect(res.data).toEqual({});
      expect((await h.verify(key)).code).toBe("NOT_FOUND");
    });
  });

  describe("errors", () => {
    it("404 when deleting twice (soft, then soft or permanent)", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      expect((await h.post("/v2/keys.deleteKey", { keyId })).status).toBe(200);
      for (const permanent of [false, true]) {
        const again = await h.post("/v2/keys.deleteKey", { keyId, permanent });
        expect(again.status, `permanent=${permanent}`).toBe(404);
        expect(again.body.error.type).toBe(KEY_NOT_FOUND);
      }
      // The refused second delete did not touch the soft-deleted row.
      expect((await keyRow(keyId))?.deleted_at).toEqual(expect.any(Number));
    });

    it("404 when deleting a permanently deleted key", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      expect((await h.post("/v2/keys.deleteKey", { keyId, permanent: true })).status).toBe(200);
      const again = await h.post("/v2/keys.deleteKey", { keyId, permanent: true });
      expect(again.status).toBe(404);
      expect(again.body.error.type).toBe(KEY_NOT_FOUND);
    });

    it("404 for an unknown key", async () => {
      const h = await Harness.init();
      const res = await h.post("/v2/keys.deleteKey", { keyId: "key_doesNotExist0000000" });
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe(KEY_NOT_FOUND);
      expect(res.body.meta.requestId).toMatch(/^req_/);
    });

    it("400 for a bad keyId, a non-boolean permanent, or an unknown field", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey();
      const cases: [unknown, string][] = [
        [{}, "body.keyId"],
        [{ keyId: "ab" }, "body.keyId"],
        [{ keyId: "has spaces in it" }, "body.keyId"],
        [{ keyId: 42 }, "body.keyId"],
        [{ keyId, permanent: "yes" }, "body.permanent"],
        [{ keyId, extra: 1 }, "body"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/keys.deleteKey", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.length).toBeGreaterThan(0);
        expect(res.body.error.errors.map((e: { location: string }) => e.location).join(" "), JSON.stringify(body)).toContain(location);
      }
      // None of the refused requests deleted the key.
      expect((await h.post("/v2/keys.getKey", { keyId })).status).toBe(200);
    });
  });

  describeSecurity({
    operation: "keys.deleteKey",
    setup: async (h) => ({ body: { keyId: (await h.createKey()).keyId }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.delete_key`],
    missing: () => ({ keyId: "key_doesNotExist0000000" }),
  });
});
