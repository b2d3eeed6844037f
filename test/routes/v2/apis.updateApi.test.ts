import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import type { ApisUpdateApiResponse } from "../../../src/routes/v2/apis.updateApi";
import { BASE_URL, Harness, type Reply } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/apis.updateApi";
const ERR = "https://unkey.com/docs/errors/";

/** The Worker with another `VAULT_MASTER_KEYS` (undefined = not set), as a deployment configured so would run. */
async function postWithVault<T = any>(secret: string | undefined, path: string, body: unknown, rootKey: string): Promise<Reply<T>> {
  const ctx = createExecutionContext();
  const res = await createApp().fetch(
    new Request(BASE_URL + path, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` },
      body: JSON.stringify(body),
    }),
    { ...env, VAULT_MASTER_KEYS: secret } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

async function storesEncryptedKeys(apiId: string): Promise<boolean> {
  const row = await env.DB.prepare("SELECT k.store_encrypted_keys AS s FROM apis a JOIN keyspaces k ON k.id = a.keyspace_id WHERE a.id = ?")
    .bind(apiId)
    .first<{ s: number }>();
  return row!.s === 1;
}

describe("apis.updateApi", () => {
  describe("happy", () => {
    it("opts an API in to the vault: recoverable keys can then be created and read back through the SDK", async () => {
      const h = await Harness.init();
      expect((await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true })).status).toBe(412);

      const res = await h.post<ApisUpdateApiResponse>(PATH, { apiId: h.apiId, storeEncryptedKeys: true });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: {} });
      expect(await storesEncryptedKeys(h.apiId)).toBe(true);

      const unkey = h.sdk();
      const { data: created } = await unkey.keys.createKey({ apiId: h.apiId, recoverable: true });
      const { data: got } = await unkey.keys.getKey({ keyId: created.keyId, decrypt: true });
      expect(got.plaintext).toBe(created.key);
    });

    it("opting out refuses new recoverable keys and decrypts but keeps the copies; opting in again reads them", async () => {
      const h = await Harness.init();
      await h.post(PATH, { apiId: h.apiId, storeEncryptedKeys: true });
      const { keyId, key } = await h.createKey({ recoverable: true });

      expect((await h.post(PATH, { apiId: h.apiId, storeEncryptedKeys: false })).status).toBe(200);
      expect(await storesEncryptedKeys(h.apiId)).toBe(false);
      const refused = await h.post("/v2/keys.getKey", { keyId, decrypt: true });
      expect(refused.status).toBe(412);
      expect(refused.body.error.type).toBe(`${ERR}unkey/application/precondition_failed`);
      expect((await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true })).status).toBe(412);
      // The key itself is untouched: it verifies, and reads without decrypt work.
      expect((await h.verify(key)).code).toBe("VALID");
      expect((await h.post("/v2/keys.getKey", { keyId })).body.data.plaintext).toBeUndefined();

      expect((await h.post(PATH, { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
      expect((await h.post("/v2/keys.getKey", { keyId, decrypt: true })).body.data.plaintext).toBe(key);
    });

    it("omitted settings are unchanged, and the change is scoped to the one API", async () => {
      const h = await Harness.init();
      const other = await h.createApi();
      await h.post(PATH, { apiId: h.apiId, storeEncryptedKeys: true });
      expect((await h.post(PATH, { apiId: h.apiId })).status).toBe(200);
      expect(await storesEncryptedKeys(h.apiId)).toBe(true);
      expect(await storesEncryptedKeys(other)).toBe(false);
      // Idempotent.
      expect((await h.post(PATH, { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
      expect(await storesEncryptedKeys(h.apiId)).toBe(true);
    });

    it("sets the IP allow-list, delete protection and leaked-key action together; getApi shows them", async () => {
      const h = await Harness.init();
      const res = await h.post(PATH, { apiId: h.apiId, ipWhitelist: ["10.0.0.0/8"], deleteProtection: true, leakedKeyAction: "disable" });
      expect(res.status).toBe(200);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({
        id: h.apiId,
        name: "test-api",
        ipWhitelist: ["10.0.0.0/8"],
        deleteProtection: true,
        leakedKeyAction: "disable",
      });
      // Back to the defaults: the extension fields disappear again.
      await h.post(PATH, { apiId: h.apiId, ipWhitelist: null, deleteProtection: false, leakedKeyAction: "revoke" });
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api" });
      // Unkey's SDK reads getApi as {id, name} whatever the extension fields.
      await h.post(PATH, { apiId: h.apiId, deleteProtection: true });
      expect((await h.sdk().apis.getApi({ apiId: h.apiId })).data).toEqual({ id: h.apiId, name: "test-api" });
    });

    it("is listed in the OpenAPI document as a Latch extension", async () => {
      await Harness.init();
      const doc = (await (await createApp().request(`${BASE_URL}/openapi.json`, {}, env)).json()) as any;
      const op = doc.paths[PATH].post;
      expect(op.operationId).toBe("apis.updateApi");
      expect(op["x-latch-extension"]).toBe(true);
      const body = doc.components.schemas.V2ApisUpdateApiRequestBody;
      expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(["ipWhitelist", "deleteProtection", "leakedKeyAction"]));
      expect(body.properties.leakedKeyAction.enum).toEqual(["revoke", "disable"]);
    });
  });

  describe("errors", () => {
    it("400 for a missing apiId, a wrong type, or an unknown field, naming the field", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ storeEncryptedKeys: true }, "body.apiId"],
        [{ apiId: h.apiId, storeEncryptedKeys: "yes" }, "body.storeEncryptedKeys"],
        [{ apiId: h.apiId, storeEncryptedKeys: null }, "body.storeEncryptedKeys"],
        [{ apiId: h.apiId, name: "renamed" }, "body.name"],
        [{ apiId: h.apiId, leakedKeyAction: "delete" }, "body.leakedKeyAction"],
        [{ apiId: h.apiId, leakedKeyAction: null }, "body.leakedKeyAction"],
        [{ apiId: h.apiId, deleteProtection: "yes" }, "body.deleteProtection"],
        [{ apiId: h.apiId, ipWhitelist: ["10.0.0.300"] }, "body.ipWhitelist[0]"],
        [{ apiId: "not valid!" }, "body.apiId"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      expect(await storesEncryptedKeys(h.apiId)).toBe(false);
    });

    it("404 for a missing or deleted API", async () => {
      const h = await Harness.init();
      const missing = await h.post(PATH, { apiId: "api_doesNotExist0000000", storeEncryptedKeys: true });
      expect(missing.status).toBe(404);
      expect(missing.body.error.type).toBe(`${ERR}unkey/data/api_not_found`);
      const apiId = await h.createApi();
      await h.post("/v2/apis.deleteApi", { apiId });
      expect((await h.post(PATH, { apiId, storeEncryptedKeys: true })).status).toBe(404);
    });

    it("412 for opting in while the vault is not configured, naming the problem but no secret; opting out still works", async () => {
      const h = await Harness.init();
      const secretPart = "c2VjcmV0LXNlY3JldC1zZWNyZXQ";
      for (const [secret, problem] of [
        [undefined, "missing or empty"],
        ["", "missing or empty"],
        [`kek_short:${secretPart}`, "expected 32"],
        [`kek_bad:${secretPart}!!`, "not valid base64"],
        ["no-colon-at-all", "malformed"],
      ] as const) {
        const res = await postWithVault(secret, PATH, { apiId: h.apiId, storeEncryptedKeys: true }, h.rootKey);
        expect(res.status, String(secret)).toBe(412);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/precondition_failed`);
        expect(res.body.error.detail).toContain("VAULT_MASTER_KEYS");
        expect(res.body.error.detail).toContain(problem);
        expect(JSON.stringify(res.body)).not.toContain(secretPart);
        expect(await storesEncryptedKeys(h.apiId)).toBe(false);
      }
      const off = await postWithVault(undefined, PATH, { apiId: h.apiId, storeEncryptedKeys: false }, h.rootKey);
      expect(off.status).toBe(200);
    });
  });

  describeSecurity({
    operation: "apis.updateApi",
    setup: async (h) => ({ body: { apiId: h.apiId, storeEncryptedKeys: true }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.update_api`],
    missing: () => ({ apiId: "api_doesNotExist0000000", storeEncryptedKeys: true }),
  });
});
