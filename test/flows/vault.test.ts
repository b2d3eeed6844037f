/**
 * The vault end to end (issue 5): recoverable keys come back byte for byte through Unkey's SDK; ciphertexts
 * are bound to their key and workspace; tampering, a broken configuration or a missing KEK gives a clear
 * error and never a wrong plaintext, never a half-created key and never a failed verify; every permission
 * combination answers as documented; and nothing stored anywhere holds a plaintext key. KEK rotation is in
 * test/routes/v2/vault.rewrap.test.ts. Other deployments' configurations are simulated by running the app
 * with another `VAULT_MASTER_KEYS` (`withVault`).
 */
import { Unkey } from "@unkey/api";
import { HTTPClient } from "@unkey/api/lib/http";
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/lib/hash";
import { Harness, type Reply, appClient } from "../harness";

const ERR = "https://unkey.com/docs/errors/";
const FORBIDDEN = `${ERR}unkey/authorization/insufficient_permissions`;
const PRECONDITION = `${ERR}unkey/application/precondition_failed`;
const UNEXPECTED = `${ERR}unkey/application/unexpected_error`;
const TEST_KEK = env.VAULT_MASTER_KEYS;

let kekCounter = 0;
function newKek(name: string): { id: string; entry: string } {
  const id = `kek_${name}_${++kekCounter}`;
  return { id, entry: `${id}:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}` };
}

/** The Worker as a deployment whose `VAULT_MASTER_KEYS` is `secret` would run it (undefined = not set). */
function withVault(secret: string | undefined) {
  return appClient({}, { VAULT_MASTER_KEYS: secret });
}

/** A workspace whose API stores encrypted keys. */
async function optedIn(): Promise<Harness> {
  const h = await Harness.init();
  const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true });
  expect(res.status).toBe(200);
  return h;
}

async function rows<T>(sql: string, ...params: unknown[]): Promise<T[]> {
  return (await env.DB.prepare(sql).bind(...params).all<T>()).results;
}

async function counts(workspaceId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ["keys", "encrypted_keys", "vault_deks", "identities"]) {
    out[table] = (await rows<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE workspace_id = ?`, workspaceId))[0]!.n;
  }
  return out;
}

async function ciphertextOf(keyId: string): Promise<string> {
  return (await rows<{ ciphertext: string }>("SELECT ciphertext FROM encrypted_keys WHERE key_id = ?", keyId))[0]!.ciphertext;
}

/** Changes one base64url character in the middle of field `field` of a `v1.<id>.<nonce>.<sealed>` text. */
function flip(text: string, field: 2 | 3): string {
  const parts = text.split(".");
  const s = parts[field]!;
  const i = Math.floor(s.length / 2);
  parts[field] = s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
  return parts.join(".");
}

function expectVaultFailure(res: Reply, mentions: string[], secrets: string[]): void {
  expect(res.status, JSON.stringify(res.body)).toBe(500);
  expect(res.body.error.type).toBe(UNEXPECTED);
  for (const m of mentions) expect(res.body.error.detail).toContain(m);
  for (const s of secrets) expect(JSON.stringify(res.body)).not.toContain(s.slice(s.lastIndexOf("_") + 1));
}

afterEach(() => vi.restoreAllMocks());

describe("recoverable keys through Unkey's SDK", () => {
  it("come back byte for byte from getKey and listKeys with decrypt: true; other keys carry no plaintext", async () => {
    const h = await Harness.init();
    const created = await h.post("/v2/apis.createApi", { name: "vaulted", storeEncryptedKeys: true });
    expect(created.status).toBe(200);
    const apiId = created.body.data.apiId as string;
    const unkey = h.sdk();
    const recoverable = [];
    for (const shape of [{}, { prefix: "sk_live" }, { byteLength: 255, prefix: "long" }, { byteLength: 16, name: "tiny", externalId: "user_v" }]) {
      recoverable.push((await unkey.keys.createKey({ apiId, recoverable: true, ...shape })).data);
    }
    const plain = (await unkey.keys.createKey({ apiId })).data;

    for (const k of recoverable) {
      const got = (await unkey.keys.getKey({ keyId: k.keyId, decrypt: true })).data;
      expect(got.plaintext).toBe(k.key);
      expect(got.plaintext!.length).toBe(k.key.length);
      expect((await unkey.keys.getKey({ keyId: k.keyId })).data.plaintext).toBeUndefined();
    }
    expect((await unkey.keys.getKey({ keyId: plain.keyId, decrypt: true })).data.plaintext).toBeUndefined();

    const listed = new Map<string, string | undefined>();
    for await (const page of await unkey.apis.listKeys({ apiId, decrypt: true, limit: 2 })) {
      for (const k of page.result.data) listed.set(k.keyId, k.plaintext);
    }
    expect(listed).toEqual(new Map([...recoverable.map((k): [string, string | undefined] => [k.keyId, k.key]), [plain.keyId, undefined]]));
    const undecrypted = await unkey.apis.listKeys({ apiId });
    expect(undecrypted.result.data.every((k) => k.plaintext === undefined)).toBe(true);
  });

  it("records every decryption in the structured log, without the plaintext", async () => {
    const h = await optedIn();
    const keys = [await h.createKey({ recoverable: true }), await h.createKey({ recoverable: true }), await h.createKey()];
    const rootKeyId = (await rows<{ id: string }>("SELECT id FROM keys WHERE hash = ?", await hashKey(h.rootKey)))[0]!.id;
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));

    const one = await h.post("/v2/keys.getKey", { keyId: keys[0]!.keyId, decrypt: true });
    const all = await h.post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true });
    await h.post("/v2/keys.getKey", { keyId: keys[2]!.keyId, decrypt: true });
    await h.post("/v2/keys.getKey", { keyId: keys[1]!.keyId });

    const events = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === "key.decrypt");
    expect(events).toEqual([
      { level: "info", msg: "key.decrypt", workspaceId: h.workspaceId, keyId: keys[0]!.keyId, actor: rootKeyId, requestId: one.body.meta.requestId },
      { level: "info", msg: "key.decrypt", workspaceId: h.workspaceId, keyId: keys[0]!.keyId, actor: rootKeyId, requestId: all.body.meta.requestId },
      { level: "info", msg: "key.decrypt", workspaceId: h.workspaceId, keyId: keys[1]!.keyId, actor: rootKeyId, requestId: all.body.meta.requestId },
    ]);
    for (const k of keys) expect(lines.join("\n")).not.toContain(k.key.slice(k.key.indexOf("_") + 1));
  });

  it("survive reroll (the successor is recoverable) and go with a permanent delete", async () => {
    const h = await optedIn();
    const rk = await h.createKey({ recoverable: true, prefix: "rr" });
    const plain = await h.createKey();
    const rerolled = await h.post("/v2/keys.rerollKey", { keyId: rk.keyId, expiration: 60_000 });
    const rerolledPlain = await h.post("/v2/keys.rerollKey", { keyId: plain.keyId, expiration: 0 });
    const next = rerolled.body.data as { keyId: string; key: string };
    expect((await h.post("/v2/keys.getKey", { keyId: next.keyId, decrypt: true })).body.data.plaintext).toBe(next.key);
    expect((await h.post("/v2/keys.getKey", { keyId: rk.keyId, decrypt: true })).body.data.plaintext).toBe(rk.key);
    expect((await h.post("/v2/keys.getKey", { keyId: rerolledPlain.body.data.keyId, decrypt: true })).body.data.plaintext).toBeUndefined();

    // An API that has opted out since stops making copies, even for a recoverable key's successor.
    await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: false });
    const third = await h.post("/v2/keys.rerollKey", { keyId: next.keyId, expiration: 0 });
    await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true });
    expect((await h.post("/v2/keys.getKey", { keyId: third.body.data.keyId, decrypt: true })).body.data.plaintext).toBeUndefined();

    expect((await h.post("/v2/keys.deleteKey", { keyId: next.keyId, permanent: true })).status).toBe(200);
    expect(await rows("SELECT key_id FROM encrypted_keys WHERE key_id = ?", next.keyId)).toEqual([]);
    expect((await h.post("/v2/keys.getKey", { keyId: rk.keyId, decrypt: true })).body.data.plaintext).toBe(rk.key);
  });

  it("concurrent first uses of a workspace agree on one data key", async () => {
    const h = await optedIn();
    const made = await Promise.all(Array.from({ length: 6 }, () => h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true })));
    expect(made.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await counts(h.workspaceId)).vault_deks).toBe(1);
    const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true });
    expect(listed.body.data.map((k: { plaintext?: string }) => k.plaintext).sort()).toEqual(made.map((r) => r.body.data.key).sort());
  });
});

describe("ciphertexts are bound to their key and workspace", () => {
  it("a ciphertext moved to another key's row fails to decrypt with a clear 500; the keys still verify", async () => {
    const h = await optedIn();
    const a = await h.createKey({ recoverable: true });
    const b = await h.createKey({ recoverable: true });
    await env.DB.prepare("UPDATE encrypted_keys SET ciphertext = ? WHERE key_id = ?").bind(await ciphertextOf(a.keyId), b.keyId).run();

    expectVaultFailure(await h.post("/v2/keys.getKey", { keyId: b.keyId, decrypt: true }), [b.keyId, "authentication failed"], [a.key, b.key]);
    expectVaultFailure(await h.post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true }), ["authentication failed"], [a.key, b.key]);
    expect((await h.post("/v2/keys.getKey", { keyId: a.keyId, decrypt: true })).body.data.plaintext).toBe(a.key);
    expect((await h.post("/v2/keys.getKey", { keyId: b.keyId })).status).toBe(200);
    expect((await h.verify(a.key)).code).toBe("VALID");
    expect((await h.verify(b.key)).code).toBe("VALID");
  });

  it("a ciphertext or a data key moved to another workspace fails to decrypt", async () => {
    const mine = await optedIn();
    const theirs = await optedIn();
    const x = await mine.createKey({ recoverable: true });
    const y = await theirs.createKey({ recoverable: true });
    await env.DB.prepare("UPDATE encrypted_keys SET ciphertext = ? WHERE key_id = ?").bind(await ciphertextOf(x.keyId), y.keyId).run();
    // The ciphertext names my workspace's data key, which their workspace does not have.
    expectVaultFailure(await theirs.post("/v2/keys.getKey", { keyId: y.keyId, decrypt: true }), [y.keyId, "no data key"], [x.key, y.key]);

    // Even with my data key moved into their workspace, it does not unwrap there (it is bound to mine).
    await env.DB.prepare("DELETE FROM vault_deks WHERE workspace_id = ?").bind(theirs.workspaceId).run();
    await env.DB.prepare("UPDATE vault_deks SET workspace_id = ? WHERE workspace_id = ?").bind(theirs.workspaceId, mine.workspaceId).run();
    const cold = withVault(`${TEST_KEK},${newKek("cold").entry}`); // a ring with no data key cached yet
    expectVaultFailure(await cold("/v2/keys.getKey", { keyId: y.keyId, decrypt: true }, theirs.rootKey), ["data key", "authentication failed"], [x.key, y.key]);
  });

  it("a flipped character in the sealed text or the nonce, or a malformed or unknown-key ciphertext, fails", async () => {
    const h = await optedIn();
    const k = await h.createKey({ recoverable: true });
    const original = await ciphertextOf(k.keyId);
    expect(original).toMatch(/^v1\.dek_[0-9a-f]{32}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const cases: Array<[string, string]> = [
      [flip(original, 3), "authentication failed"],
      [flip(original, 2), "authentication failed"],
      [original.replace(/^v1\./, "v2."), "malformed"],
      [`${original}=`, "malformed"],
      [original.split(".").slice(0, 3).join("."), "malformed"],
      ["not a ciphertext", "malformed"],
      [original.replace(/dek_[0-9a-f]{32}/, `dek_${"0".repeat(32)}`), "no data key"],
    ];
    for (const [text, problem] of cases) {
      await env.DB.prepare("UPDATE encrypted_keys SET ciphertext = ? WHERE key_id = ?").bind(text, k.keyId).run();
      expectVaultFailure(await h.post("/v2/keys.getKey", { keyId: k.keyId, decrypt: true }), [problem], [k.key]);
    }
    await env.DB.prepare("UPDATE encrypted_keys SET ciphertext = ? WHERE key_id = ?").bind(original, k.keyId).run();
    expect((await h.post("/v2/keys.getKey", { keyId: k.keyId, decrypt: true })).body.data.plaintext).toBe(k.key);
  });
});

describe("a broken vault configuration is loud and safe", () => {
  const broken: Array<[string, string | undefined, string]> = [
    ["missing", undefined, "missing or empty"],
    ["empty", "", "missing or empty"],
    ["malformed", `${TEST_KEK},oops`, "entry 2 is malformed"],
    ["too short", "kek_short:AAAAAAAAAAAAAAAAAAAAAA==", "expected 32"],
  ];

  it("createKey {recoverable: true} is a 412 that writes nothing; other keys are created and everything verifies", async () => {
    const h = await optedIn();
    const earlier = await h.createKey({ recoverable: true });
    for (const [label, secret, problem] of broken) {
      const post = withVault(secret);
      const before = await counts(h.workspaceId);
      const res = await post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true, externalId: `ext_${label.replace(" ", "_")}` }, h.rootKey);
      expect(res.status, label).toBe(412);
      expect(res.body.error.type).toBe(PRECONDITION);
      expect(res.body.error.detail).toContain("VAULT_MASTER_KEYS");
      expect(res.body.error.detail).toContain(problem);
      expect(await counts(h.workspaceId), label).toEqual(before);

      const decrypt = await post("/v2/keys.getKey", { keyId: earlier.keyId, decrypt: true }, h.rootKey);
      expect(decrypt.status, label).toBe(412);
      expect(decrypt.body.error.detail).toContain(problem);
      expect((await post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true }, h.rootKey)).status).toBe(412);

      // Nothing else needs the vault.
      expect((await post("/v2/keys.getKey", { keyId: earlier.keyId }, h.rootKey)).status).toBe(200);
      const plain = await post("/v2/keys.createKey", { apiId: h.apiId }, h.rootKey);
      expect(plain.status).toBe(200);
      expect((await post("/v2/keys.verifyKey", { key: earlier.key }, h.rootKey)).body.data.code).toBe("VALID");
      expect((await post("/v2/keys.verifyKey", { key: plain.body.data.key }, h.rootKey)).body.data.code).toBe("VALID");
    }
  });

  it("rerolling a recoverable key fails before writing anything; deleting it needs no vault", async () => {
    const h = await optedIn();
    const k = await h.createKey({ recoverable: true });
    const post = withVault(undefined);
    const before = await counts(h.workspaceId);
    const rerolled = await post("/v2/keys.rerollKey", { keyId: k.keyId, expiration: 0 }, h.rootKey);
    expect(rerolled.status).toBe(412);
    expect(rerolled.body.error.type).toBe(PRECONDITION);
    expect(await counts(h.workspaceId)).toEqual(before);
    expect((await h.verify(k.key)).code).toBe("VALID");
    expect((await post("/v2/keys.deleteKey", { keyId: k.keyId, permanent: true }, h.rootKey)).status).toBe(200);
    expect((await counts(h.workspaceId)).encrypted_keys).toBe(before.encrypted_keys! - 1);
    expect((await h.verify(k.key)).code).toBe("NOT_FOUND");
  });

  it("a data key wrapped by a KEK that is not configured is a 500 naming the KEK; createKey writes nothing", async () => {
    const h = await optedIn();
    const k = await h.createKey({ recoverable: true });
    const other = newKek("other");
    const post = withVault(other.entry);
    const before = await counts(h.workspaceId);
    const created = await post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true }, h.rootKey);
    expectVaultFailure(created, ['KEK "kek_test"', "not configured"], [k.key]);
    expect(JSON.stringify(created.body)).not.toContain(other.entry.split(":")[1]!);
    expect(await counts(h.workspaceId)).toEqual(before);
    expectVaultFailure(await post("/v2/keys.getKey", { keyId: k.keyId, decrypt: true }, h.rootKey), ['KEK "kek_test"'], [k.key]);
    expect((await post("/v2/keys.verifyKey", { key: k.key }, h.rootKey)).body.data.code).toBe("VALID");
  });
});

describe("permission matrix", () => {
  type Grant = "none" | "*" | "this API" | "another API";
  const GRANTS: Grant[] = ["none", "*", "this API", "another API"];

  /** `api.<id>.<action>` for the grant, or nothing. */
  function tuple(action: string, grant: Grant, apiId: string, otherApiId: string): string[] {
    if (grant === "none") return [];
    return [`api.${grant === "*" ? "*" : grant === "this API" ? apiId : otherApiId}.${action}`];
  }

  /** 403 without the vault permission for this API; with it, 200 on an opted-in API and 412 otherwise. */
  function expected(grant: Grant, opted: boolean): number {
    if (grant === "none" || grant === "another API") return 403;
    return opted ? 200 : 412;
  }

  async function apis(h: Harness): Promise<{ opted: string; plain: string; other: string }> {
    const plain = await h.createApi("plain api");
    const other = await h.createApi("unrelated api");
    await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true });
    return { opted: h.apiId, plain, other };
  }

  function expectStatus(res: Reply, status: number, at: string): void {
    expect(res.status, `${at}: ${JSON.stringify(res.body)}`).toBe(status);
    if (status === 403) expect(res.body.error.type).toBe(FORBIDDEN);
    if (status === 412) expect(res.body.error.type).toBe(PRECONDITION);
  }

  it("keys.createKey {recoverable: true}: create_key plus encrypt_key", async () => {
    const h = await Harness.init();
    const ids = await apis(h);
    for (const opted of [true, false]) {
      const apiId = opted ? ids.opted : ids.plain;
      for (const grant of GRANTS) {
        for (const base of ["*", apiId]) {
          const key = await h.createRootKey([`api.${base}.create_key`, ...tuple("encrypt_key", grant, apiId, ids.other)]);
          const before = await counts(h.workspaceId);
          const res = await h.post("/v2/keys.createKey", { apiId, recoverable: true }, { key });
          const at = `opted=${opted} encrypt_key=${grant} create_key=${base}`;
          expectStatus(res, expected(grant, opted), at);
          if (res.status === 200) {
            expect((await h.post("/v2/keys.getKey", { keyId: res.body.data.keyId, decrypt: true })).body.data.plaintext).toBe(res.body.data.key);
          } else {
            expect((await counts(h.workspaceId)).keys, at).toBe(before.keys);
          }
        }
      }
    }
    // encrypt_key without create_key grants nothing.
    const encryptOnly = await h.createRootKey(["api.*.encrypt_key"]);
    expectStatus(await h.post("/v2/keys.createKey", { apiId: ids.opted, recoverable: true }, { key: encryptOnly }), 403, "encrypt_key only");
  });

  it("keys.getKey {decrypt: true}: read_key plus decrypt_key", async () => {
    const h = await Harness.init();
    const ids = await apis(h);
    const keys = {
      opted: await h.createKey({ apiId: ids.opted, recoverable: true }),
      plain: await h.createKey({ apiId: ids.plain }),
    };
    for (const opted of [true, false]) {
      const apiId = opted ? ids.opted : ids.plain;
      const k = opted ? keys.opted : keys.plain;
      for (const grant of GRANTS) {
        for (const base of ["*", apiId]) {
          const key = await h.createRootKey([`api.${base}.read_key`, ...tuple("decrypt_key", grant, apiId, ids.other)]);
          const res = await h.post("/v2/keys.getKey", { keyId: k.keyId, decrypt: true }, { key });
          expectStatus(res, expected(grant, opted), `opted=${opted} decrypt_key=${grant} read_key=${base}`);
          if (res.status === 200) expect(res.body.data.plaintext).toBe(k.key);
          else expect(JSON.stringify(res.body)).not.toContain(k.key);
          // Without decrypt, decrypt_key is never needed.
          const read = await h.post("/v2/keys.getKey", { keyId: k.keyId }, { key });
          expect(read.status).toBe(200);
          expect(read.body.data.plaintext).toBeUndefined();
        }
      }
    }
    const decryptOnly = await h.createRootKey(["api.*.decrypt_key"]);
    expectStatus(await h.post("/v2/keys.getKey", { keyId: keys.opted.keyId, decrypt: true }, { key: decryptOnly }), 403, "decrypt_key only");
  });

  it("apis.listKeys {decrypt: true}: read_api and read_key plus decrypt_key", async () => {
    const h = await Harness.init();
    const ids = await apis(h);
    const k = await h.createKey({ apiId: ids.opted, recoverable: true });
    for (const opted of [true, false]) {
      const apiId = opted ? ids.opted : ids.plain;
      for (const grant of GRANTS) {
        for (const base of ["*", apiId]) {
          const key = await h.createRootKey([`api.${base}.read_api`, `api.${base}.read_key`, ...tuple("decrypt_key", grant, apiId, ids.other)]);
          const res = await h.post("/v2/apis.listKeys", { apiId, decrypt: true }, { key });
          expectStatus(res, expected(grant, opted), `opted=${opted} decrypt_key=${grant} read=${base}`);
          if (res.status === 200) expect(res.body.data.map((x: { plaintext?: string }) => x.plaintext)).toEqual([k.key]);
          expect((await h.post("/v2/apis.listKeys", { apiId }, { key })).status).toBe(200);
        }
      }
    }
    const decryptOnly = await h.createRootKey(["api.*.decrypt_key", "api.*.read_key"]);
    expectStatus(await h.post("/v2/apis.listKeys", { apiId: ids.opted, decrypt: true }, { key: decryptOnly }), 403, "without read_api");
  });
});

describe("at rest", () => {
  async function dumpD1(): Promise<string> {
    const tables = await rows<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'");
    const parts: string[] = [];
    for (const { name } of tables) parts.push(JSON.stringify(await rows(`SELECT * FROM "${name}"`)));
    return parts.join("\n");
  }

  async function dumpKv(): Promise<string> {
    const parts: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await env.EDGE.list(cursor ? { cursor } : {});
      for (const k of page.keys) parts.push(k.name, (await env.EDGE.get(k.name)) ?? "");
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return parts.join("\n");
  }

  async function dumpDurableObjects(): Promise<string> {
    const parts: string[] = [];
    for (const ns of [env.KEY_STATE, env.LIMITER] as unknown as DurableObjectNamespace[]) {
      for (const id of await listDurableObjectIds(ns)) {
        parts.push(await runInDurableObject(ns.get(id), async (_i, state) => JSON.stringify([...(await state.storage.list()).entries()])));
      }
    }
    return parts.join("\n");
  }

  it("D1, KV and Durable Object storage hold no plaintext key, recoverable ones included, and no KEK", async () => {
    const h = await optedIn();
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
    const made = [
      await h.createKey({ recoverable: true }),
      await h.createKey({ recoverable: true, prefix: "sk_live", byteLength: 64, externalId: "scan_user" }),
      await h.createKey({ recoverable: true, credits: { remaining: 5 }, ratelimits: [{ name: "scan", limit: 9, duration: 60_000, autoApply: true }] }),
      await h.createKey(),
    ];
    const rerolled = (await h.post("/v2/keys.rerollKey", { keyId: made[0]!.keyId, expiration: 60_000 })).body.data as { keyId: string; key: string };
    const gone = await h.createKey({ recoverable: true });
    await h.post("/v2/keys.deleteKey", { keyId: gone.keyId, permanent: true });
    for (const k of [...made, rerolled]) expect((await h.verify(k.key)).code).toBe("VALID");
    const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId, decrypt: true });
    expect(listed.body.data.filter((k: { plaintext?: string }) => k.plaintext).length).toBe(4);

    const secrets = [h.rootKey, ...made.map((k) => k.key), rerolled.key, gone.key];
    const d1 = await dumpD1();
    expect(d1).toContain(await ciphertextOf(rerolled.keyId));
    const stores: Array<[string, string]> = [["D1", d1], ["KV", await dumpKv()], ["Durable Objects", await dumpDurableObjects()], ["logs", lines.join("\n")]];
    for (const secret of secrets) {
      const random = secret.slice(secret.lastIndexOf("_") + 1);
      for (const [where, text] of stores) expect(text.includes(random), `${where} holds a key's random part`).toBe(false);
    }
    const kekMaterial = TEST_KEK.slice(TEST_KEK.indexOf(":") + 1);
    for (const [where, text] of stores) expect(text.includes(kekMaterial), `${where} holds the KEK`).toBe(false);
  });
});

describe("rerolling a recoverable key", () => {
  it("needs encrypt_key besides create_key, since the successor is encrypted too", async () => {
    const h = await Harness.init();
    expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, storeEncryptedKeys: true })).status).toBe(200);
    const { keyId } = await h.createKey({ recoverable: true });
    const createOnly = await h.createRootKey([`api.${h.apiId}.create_key`]);
    const refused = await h.post("/v2/keys.rerollKey", { keyId, expiration: 0 }, { key: createOnly });
    expect(refused.status).toBe(403);
    expect((await h.post("/v2/keys.getKey", { keyId })).status).toBe(200); // nothing changed
    const both = await h.createRootKey([`api.${h.apiId}.create_key`, `api.${h.apiId}.encrypt_key`]);
    expect((await h.post("/v2/keys.rerollKey", { keyId, expiration: 0 }, { key: both })).status).toBe(200);
  });
});
