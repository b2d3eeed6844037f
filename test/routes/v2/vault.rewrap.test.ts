/**
 * vault.rewrap, and with it KEK rotation end to end: put a new KEK first, re-wrap, remove the old one, and
 * every recoverable key still decrypts. Deployments with other KEKs are simulated by running the Worker's
 * app with another `VAULT_MASTER_KEYS` (`withVault`). Storage is shared by the whole file and the rewrap
 * acts on every data key in it, so each test that moves data keys to another KEK moves them all back to
 * the test KEK (`restore`) before it ends.
 */
import { Unkey } from "@unkey/api";
import { HTTPClient } from "@unkey/api/lib/http";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { INTERNAL_WORKSPACE_ID } from "../../../src/lib/bootstrap";
import type { VaultRewrapResponse } from "../../../src/routes/v2/vault.rewrap";
import { BASE_URL, Harness, type Reply } from "../../harness";
import { describeSecurity } from "../../security";

const PATH = "/v2/vault.rewrap";
const ERR = "https://unkey.com/docs/errors/";
/** The fixed test KEK from vitest.config.ts: `kek_test:<base64>`. */
const TEST_KEK = env.VAULT_MASTER_KEYS;

let kekCounter = 0;
/** A fresh random KEK entry `kek_<name>_<n>:<base64 of 32 bytes>`. */
function newKek(name: string): { id: string; entry: string; secret: string } {
  const id = `kek_${name}_${++kekCounter}`;
  const secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  return { id, entry: `${id}:${secret}`, secret };
}

/** The Worker as a deployment whose `VAULT_MASTER_KEYS` is `secret` would run it. */
function withVault(secret: string | undefined) {
  const app = createApp();
  const vaultEnv = { ...env, VAULT_MASTER_KEYS: secret } as Env;
  const fetch = async (req: Request): Promise<Response> => {
    const ctx = createExecutionContext();
    const res = await app.fetch(req, vaultEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  return {
    async post<T = any>(path: string, body: unknown, rootKey: string): Promise<Reply<T>> {
      const res = await fetch(
        new Request(BASE_URL + path, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` },
          body: JSON.stringify(body),
        }),
      );
      return { status: res.status, body: (await res.json()) as T, headers: res.headers };
    },
    sdk(rootKey: string): Unkey {
      const httpClient = new HTTPClient({ fetcher: (input, init) => fetch(new Request(input, init)) });
      return new Unkey({ rootKey, serverURL: BASE_URL, httpClient, retryConfig: { strategy: "none" } });
    },
  };
}

/** Re-wraps until done (following cursors), returning every page. */
async function rewrapAll(secret: string, rootKey: string, limit = 100): Promise<VaultRewrapResponse["data"][]> {
  const vault = withVault(secret);
  const pages: VaultRewrapResponse["data"][] = [];
  let cursor: string | undefined;
  do {
    const res = await vault.post<VaultRewrapResponse>(PATH, cursor ? { cursor, limit } : { limit }, rootKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.data);
    cursor = res.body.data.cursor;
  } while (cursor);
  return pages;
}

/** Moves every data key of the file back under the test KEK. */
/** Puts every workspace's data key back under the test KEK (an operator's key covers them all). */
async function restore(h: Harness, ...others: string[]): Promise<void> {
  const pages = await rewrapAll([TEST_KEK, ...others].join(","), await h.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID));
  expect(pages.at(-1)!.remaining).toBe(0);
}

/** A workspace with an opted-in API and `n` recoverable keys, created under `secret` (default: the test KEK). */
async function recoverableKeys(n: number, secret = TEST_KEK): Promise<{ h: Harness; keys: Array<{ keyId: string; key: string }> }> {
  const h = await Harness.init();
  expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
  const vault = withVault(secret);
  const keys = [];
  for (let i = 0; i < n; i++) {
    const res = await vault.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true, prefix: `rk${i}` }, h.rootKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    keys.push(res.body.data as { keyId: string; key: string });
  }
  return { h, keys };
}

async function dekOf(workspaceId: string): Promise<{ id: string; kek_id: string; wrapped: string }> {
  const row = await env.DB.prepare("SELECT id, kek_id, wrapped FROM vault_deks WHERE workspace_id = ?").bind(workspaceId).first<{ id: string; kek_id: string; wrapped: string }>();
  if (!row) throw new Error(`no data key for ${workspaceId}`);
  return row;
}

/** Every recoverable key of `h` decrypts to its plaintext through `secret`'s deployment, via getKey and listKeys (SDK). */
async function expectAllDecrypt(secret: string, h: Harness, keys: Array<{ keyId: string; key: string }>): Promise<void> {
  const unkey = withVault(secret).sdk(h.rootKey);
  for (const k of keys) expect((await unkey.keys.getKey({ keyId: k.keyId, decrypt: true })).data.plaintext).toBe(k.key);
  const listed = await unkey.apis.listKeys({ apiId: h.apiId, decrypt: true });
  expect(new Map(listed.result.data.map((k) => [k.keyId, k.plaintext]))).toEqual(new Map(keys.map((k) => [k.keyId, k.key])));
}

describe("vault.rewrap", () => {
  describe("happy", () => {
    it("KEK rotation: new KEK first, re-wrap, old KEK removed, and every recoverable key still decrypts", async () => {
      const a = await recoverableKeys(2);
      const b = await recoverableKeys(1);
      const next = newKek("next");
      const both = `${next.entry},${TEST_KEK}`;
      expect((await dekOf(a.h.workspaceId)).kek_id).toBe("kek_test");

      // Step 1: the new KEK first, the old one kept. Everything works; new data keys are wrapped by the new KEK.
      await expectAllDecrypt(both, a.h, a.keys);
      const c = await recoverableKeys(1, both);
      expect((await dekOf(c.h.workspaceId)).kek_id).toBe(next.id);
      const added = await withVault(both).post("/v2/keys.createKey", { apiId: a.h.apiId, recoverable: true }, a.h.rootKey);
      expect(added.status).toBe(200);
      a.keys.push(added.body.data);

      // Removing the old KEK now would be too early: its data keys cannot be unwrapped, and the answer says why.
      const early = await withVault(next.entry).post("/v2/keys.getKey", { keyId: a.keys[0]!.keyId, decrypt: true }, a.h.rootKey);
      expect(early.status).toBe(500);
      expect(early.body.error.type).toBe(`${ERR}unkey/application/unexpected_error`);
      expect(early.body.error.detail).toContain('KEK "kek_test"');
      expect(JSON.stringify(early.body)).not.toContain(a.keys[0]!.key);

      // Step 2: re-wrap, with an operator's root key (of the internal workspace) holding only the vault permission.
      const operator = await a.h.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID);
      const pages = await rewrapAll(both, operator);
      expect(pages).toHaveLength(1);
      expect(pages[0]).toMatchObject({ primaryKekId: next.id, failed: [], remaining: 0 });
      expect(pages[0]!.rewrapped).toBeGreaterThanOrEqual(2);
      for (const ws of [a.h.workspaceId, b.h.workspaceId]) {
        const dek = await dekOf(ws);
        expect(dek.kek_id).toBe(next.id);
        expect(dek.wrapped.startsWith(`v1.${next.id}.`)).toBe(true);
      }

      // Step 3: the old KEK removed. Every recoverable key decrypts, old and new; new keys still work.
      await expectAllDecrypt(next.entry, a.h, a.keys);
      await expectAllDecrypt(next.entry, b.h, b.keys);
      await expectAllDecrypt(next.entry, c.h, c.keys);
      const after = await withVault(next.entry).sdk(b.h.rootKey).keys.createKey({ apiId: b.h.apiId, recoverable: true });
      b.keys.push(after.data);
      await expectAllDecrypt(next.entry, b.h, b.keys);
      // Verification never touches the vault: through every configuration, every key verifies.
      for (const secret of [TEST_KEK, next.entry, undefined]) {
        for (const { h, keys } of [a, b, c]) {
          for (const k of keys) {
            const res = await withVault(secret).post("/v2/keys.verifyKey", { key: k.key }, h.rootKey);
            expect(res.body.data.code).toBe("VALID");
          }
        }
      }

      await restore(a.h, next.entry);
      await expectAllDecrypt(TEST_KEK, a.h, a.keys);
    });

    it("is idempotent: a second run re-wraps nothing and changes no row", async () => {
      const { h } = await recoverableKeys(1);
      const next = newKek("again");
      const both = `${next.entry},${TEST_KEK}`;
      await rewrapAll(both, h.rootKey);
      const before = await dekOf(h.workspaceId);
      const second = await rewrapAll(both, h.rootKey);
      expect(second).toEqual([{ primaryKekId: next.id, rewrapped: 0, failed: [], remaining: 0 }]);
      expect(await dekOf(h.workspaceId)).toEqual(before);
      await restore(h, next.entry);
    });

    it("pages with a cursor when asked for fewer data keys than wait", async () => {
      const made = [await recoverableKeys(1), await recoverableKeys(1), await recoverableKeys(1)];
      const next = newKek("paged");
      const pages = await rewrapAll(`${next.entry},${TEST_KEK}`, await made[0]!.h.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID), 1);
      expect(pages.length).toBeGreaterThanOrEqual(3);
      for (const page of pages.slice(0, -1)) {
        expect(page.rewrapped).toBe(1);
        expect(page.cursor).toMatch(/^dek_/);
      }
      expect(pages.at(-1)).toMatchObject({ failed: [], remaining: 0 });
      expect(pages.at(-1)!.cursor).toBeUndefined();
      for (const m of made) expect((await dekOf(m.h.workspaceId)).kek_id).toBe(next.id);
      await restore(made[0]!.h, next.entry);
    });

    it("reports a data key whose KEK is not configured and leaves it as it is; the others proceed", async () => {
      const orphan = newKek("orphan");
      const lost = await recoverableKeys(1, orphan.entry);
      const fine = await recoverableKeys(1);
      const lostBefore = await dekOf(lost.h.workspaceId);
      const next = newKek("partial");

      const pages = await rewrapAll(`${next.entry},${TEST_KEK}`, await fine.h.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID));
      const failed = pages.flatMap((p) => p.failed);
      expect(failed).toEqual([{ dekId: lostBefore.id, code: "unknown_kek", message: expect.stringContaining(orphan.id) }]);
      expect(JSON.stringify(pages)).not.toContain(orphan.secret);
      expect(pages.at(-1)!.remaining).toBe(1);
      expect(await dekOf(lost.h.workspaceId)).toEqual(lostBefore);
      expect((await dekOf(fine.h.workspaceId)).kek_id).toBe(next.id);

      // With its KEK configured again, the next run finishes the job.
      await restore(fine.h, next.entry, orphan.entry);
      await expectAllDecrypt(TEST_KEK, lost.h, lost.keys);
    });
  });

  describe("errors", () => {
    it("400 for a bad limit, an empty cursor or an unknown field", async () => {
      const h = await Harness.init();
      for (const [body, location] of [
        [{ limit: 0 }, "body.limit"],
        [{ limit: 101 }, "body.limit"],
        [{ limit: 1.5 }, "body.limit"],
        [{ cursor: "" }, "body.cursor"],
        [{ workspaceId: h.workspaceId }, "body.workspaceId"],
      ] as const) {
        const res = await h.post(PATH, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
    });

    it("412 when the vault is not configured, naming the problem but no secret", async () => {
      const h = await Harness.init();
      for (const secret of [undefined, "kek_x:dG9vLXNob3J0"]) {
        const res = await withVault(secret).post(PATH, {}, h.rootKey);
        expect(res.status).toBe(412);
        expect(res.body.error.type).toBe(`${ERR}unkey/application/precondition_failed`);
        expect(res.body.error.detail).toContain("VAULT_MASTER_KEYS");
        expect(JSON.stringify(res.body)).not.toContain("dG9vLXNob3J0");
      }
    });

    it("a tampered wrapped data key fails authentication, is reported and is not overwritten", async () => {
      const { h, keys } = await recoverableKeys(1);
      const original = await dekOf(h.workspaceId);
      const fields = original.wrapped.split(".");
      const sealed = fields[3]!;
      const i = Math.floor(sealed.length / 2);
      fields[3] = sealed.slice(0, i) + (sealed[i] === "A" ? "B" : "A") + sealed.slice(i + 1);
      const tampered = fields.join(".");
      await env.DB.prepare("UPDATE vault_deks SET wrapped = ? WHERE id = ?").bind(tampered, original.id).run();

      const next = newKek("tamper");
      const pages = await rewrapAll(`${next.entry},${TEST_KEK}`, h.rootKey);
      expect(pages.flatMap((p) => p.failed)).toEqual([{ dekId: original.id, code: "decrypt_failed", message: expect.stringContaining("authentication failed") }]);
      expect((await dekOf(h.workspaceId)).wrapped).toBe(tampered);

      await env.DB.prepare("UPDATE vault_deks SET wrapped = ? WHERE id = ?").bind(original.wrapped, original.id).run();
      await restore(h, next.entry);
      await expectAllDecrypt(TEST_KEK, h, keys);
    });
  });

  describeSecurity({
    operation: "vault.rewrap",
    setup: async () => ({ body: {} }),
    grant: () => ["vault.*.rewrap"],
  });
});

describe("vault.rewrap scope", () => {
  it("a tenant's root key re-wraps only its own workspace's data key; an operator's covers every workspace", async () => {
    const a = await Harness.init();
    const b = await Harness.init();
    for (const h of [a, b]) {
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
      expect((await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true })).status).toBe(200);
    }
    const fresh = `kek_scope:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const secret = `${fresh},${env.VAULT_MASTER_KEYS}`;
    const app = createApp();
    const call = async (rootKey: string) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE_URL}/v2/vault.rewrap`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` }, body: "{}" }),
        { ...env, VAULT_MASTER_KEYS: secret } as Env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: (await res.json()) as { data: { remaining: number } } };
    };
    const kekOf = async (ws: string) => (await env.DB.prepare("SELECT kek_id FROM vault_deks WHERE workspace_id = ?").bind(ws).first<{ kek_id: string }>())!.kek_id;

    const tenant = await call(a.rootKey);
    expect(tenant.status).toBe(200);
    expect(tenant.body.data.remaining).toBe(0); // counted within its own workspace
    expect(await kekOf(a.workspaceId)).toBe("kek_scope");
    expect(await kekOf(b.workspaceId)).not.toBe("kek_scope");

    const operator = await a.createRootKey(["vault.*.rewrap"], INTERNAL_WORKSPACE_ID);
    expect((await call(operator)).status).toBe(200);
    expect(await kekOf(b.workspaceId)).toBe("kek_scope");
  });
});
