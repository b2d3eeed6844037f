/**
 * Leaked-key revocation (issue 6, item 6): `POST /v2/github.secretScanning` takes GitHub's secret-scanning
 * partner alerts, signed with ECDSA P-256 over the raw body. The tests play GitHub: they generate a key
 * pair with WebCrypto, configure its public key through `GITHUB_SECRET_SCANNING_KEYS` (an app built with
 * `createApp()` and `{...env, GITHUB_SECRET_SCANNING_KEYS}`), and sign bodies. A forged or unsigned alert
 * must change nothing.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { GithubSecretScanningResponse } from "../../src/routes/v2/github.secretScanning";
import { recordCache } from "../../src/services/cache";
import { BASE_URL, Harness, type Reply } from "../harness";

const PATH = "/v2/github.secretScanning";
const ERR = "https://unkey.com/docs/errors/";
const TYPE = "latch_api_key";
const app = createApp();

type Signer = { kid: string; privateKey: CryptoKey; pem: string };

async function newSigner(kid: string): Promise<Signer> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  const b64 = btoa(String.fromCharCode(...spki));
  return { kid, privateKey: pair.privateKey, pem: `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PUBLIC KEY-----\n` };
}

/** GitHub's published format: `{public_keys:[{key_identifier, key, is_current}]}`. */
function keysConfig(...signers: Signer[]): string {
  return JSON.stringify({ public_keys: signers.map((s, i) => ({ key_identifier: s.kid, key: s.pem, is_current: i === 0 })) });
}

function derInteger(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = [...bytes.slice(i)];
  if (v[0]! & 0x80) v.unshift(0);
  return [0x02, v.length, ...v];
}

/** WebCrypto signs as r||s; GitHub sends ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`, base64. */
async function sign(signer: Signer, body: string | Uint8Array): Promise<string> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signer.privateKey, bytes));
  const r = derInteger(raw.slice(0, 32));
  const s = derInteger(raw.slice(32));
  return btoa(String.fromCharCode(0x30, r.length + s.length, ...r, ...s));
}

/** POST to the endpoint as GitHub would, with `config` as the Worker's GITHUB_SECRET_SCANNING_KEYS. */
async function send<T = any>(body: string | Uint8Array, headers: Record<string, string>, config: string | undefined): Promise<Reply<T>> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(BASE_URL + PATH, { method: "POST", headers: { "content-type": "application/json", ...headers }, body }),
    { ...env, GITHUB_SECRET_SCANNING_KEYS: config } as Env,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // leave as text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** A signed alert batch from `signer`, configured as GitHub's only key unless `config` says otherwise. */
async function report(signer: Signer, body: string, config = keysConfig(signer)): Promise<Reply<GithubSecretScanningResponse>> {
  return send(body, { "github-public-key-identifier": signer.kid, "github-public-key-signature": await sign(signer, body) }, config);
}

const alert = (token: string, url = "https://github.com/octo/app/blob/main/config.js", source = "content") => ({ token, type: TYPE, url, source });
const alerts = (...list: ReturnType<typeof alert>[]) => JSON.stringify(list);

async function keyRow(keyId: string): Promise<{ deleted_at: number | null; enabled: number; revision: number }> {
  return (await env.DB.prepare("SELECT deleted_at, enabled, revision FROM keys WHERE id = ?").bind(keyId).first())!;
}

/** Everything an alert could have changed, for "nothing changed" checks. */
async function snapshot(keyIds: string[]): Promise<unknown> {
  return Promise.all(keyIds.map(keyRow));
}

describe("leaked-key revocation (GitHub secret scanning)", () => {
  describe("happy", () => {
    it("revokes a reported key at once (soft delete) and answers in GitHub's format", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const leaked = await h.createKey({ name: "leaked" });
      const safe = await h.createKey();
      expect((await h.verify(leaked.key)).code).toBe("VALID"); // cached on this isolate

      const res = await report(github, alerts(alert(leaked.key)));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body).toEqual([{ token_raw: leaked.key, token_type: TYPE, label: "true_positive" }]);

      expect(await h.verify(leaked.key)).toEqual({ valid: false, code: "NOT_FOUND" });
      recordCache(5000).clear();
      expect(await h.verify(leaked.key)).toEqual({ valid: false, code: "NOT_FOUND" });
      expect((await h.post("/v2/keys.getKey", { keyId: leaked.keyId })).status).toBe(404);
      expect((await keyRow(leaked.keyId)).deleted_at).not.toBeNull(); // soft: the row stays
      expect((await h.verify(safe.key)).code).toBe("VALID");
    });

    it("disables instead when the key's API says leakedKeyAction: disable; the key can be re-enabled", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { keyId, key } = await h.createKey();
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, leakedKeyAction: "disable" })).status).toBe(200);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api", leakedKeyAction: "disable" });
      expect((await h.verify(key)).code).toBe("VALID");

      const res = await report(github, alerts(alert(key)));
      expect(res.body).toEqual([{ token_raw: key, token_type: TYPE, label: "true_positive" }]);
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "DISABLED", keyId });
      expect((await keyRow(keyId)).deleted_at).toBeNull();

      // A second report of a key that is already disabled changes nothing and is still a true positive.
      const revision = (await keyRow(keyId)).revision;
      expect((await report(github, alerts(alert(key)))).body[0]!.label).toBe("true_positive");
      expect((await keyRow(keyId)).revision).toBe(revision);

      expect((await h.post("/v2/keys.updateKey", { keyId, enabled: true })).status).toBe(200);
      expect((await h.verify(key)).code).toBe("VALID");
      // Switching back to revoke applies to the next report.
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, leakedKeyAction: "revoke" })).status).toBe(200);
      await report(github, alerts(alert(key)));
      expect(await h.verify(key)).toEqual({ valid: false, code: "NOT_FOUND" });
    });

    it("keys with limits or credits are revoked through their Durable Object too", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const limited = await h.createKey({ credits: { remaining: 10 }, ratelimits: [{ name: "requests", limit: 10, duration: 60_000, autoApply: true }] });
      expect((await h.verify(limited.key)).code).toBe("VALID");
      await report(github, alerts(alert(limited.key)));
      expect(await h.verify(limited.key)).toEqual({ valid: false, code: "NOT_FOUND" });
    });

    it("one batch across workspaces: labels in order, every found key acted on per its own API, unknown tokens false", async () => {
      const github = await newSigner("kid_current");
      const a = await Harness.init();
      const b = await Harness.init();
      await b.post("/v2/apis.updateApi", { apiId: b.apiId, leakedKeyAction: "disable" });
      const ka = await a.createKey();
      const kb = await b.createKey();
      const untouched = await a.createKey();
      const body = alerts(alert(ka.key), alert("sk_notOneOfOurKeysAtAll12345"), alert(kb.key), alert(ka.key, "https://gist.github.com/x/1"));

      const res = await report(github, body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([
        { token_raw: ka.key, token_type: TYPE, label: "true_positive" },
        { token_raw: "sk_notOneOfOurKeysAtAll12345", token_type: TYPE, label: "false_positive" },
        { token_raw: kb.key, token_type: TYPE, label: "true_positive" },
        { token_raw: ka.key, token_type: TYPE, label: "true_positive" },
      ]);
      expect(await a.verify(ka.key)).toEqual({ valid: false, code: "NOT_FOUND" });
      expect(await b.verify(kb.key)).toMatchObject({ valid: false, code: "DISABLED" });
      expect((await a.verify(untouched.key)).code).toBe("VALID");
      // The duplicate was acted on once: one soft delete, one revision step.
      expect((await keyRow(ka.keyId)).revision).toBe(1);
    });

    it("a leaked root key is revoked: it authenticates nothing afterwards", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const rootKey = await h.createRootKey(["api.*.read_api"]);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId }, { key: rootKey })).status).toBe(200);

      const res = await report(github, alerts(alert(rootKey)));
      expect(res.body).toEqual([{ token_raw: rootKey, token_type: TYPE, label: "true_positive" }]);
      const after = await h.post("/v2/apis.getApi", { apiId: h.apiId }, { key: rootKey });
      expect(after.status).toBe(401);
      expect(after.body.error.type).toBe(`${ERR}unkey/authentication/key_not_found`);
      recordCache(5000).clear();
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId }, { key: rootKey })).status).toBe(401);
      // The workspace's other root key is untouched.
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).status).toBe(200);
    });

    it("an already revoked key, or a key of a deleted API, is a true positive and nothing fails", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const revoked = await h.createKey();
      await h.post("/v2/keys.deleteKey", { keyId: revoked.keyId });
      const otherApi = await h.createApi();
      const orphan = (await h.post("/v2/keys.createKey", { apiId: otherApi })).body.data;
      await h.post("/v2/apis.deleteApi", { apiId: otherApi });
      const before = await snapshot([revoked.keyId, orphan.keyId]);

      const res = await report(github, alerts(alert(revoked.key), alert(orphan.key)));
      expect(res.status).toBe(200);
      expect(res.body.map((r) => r.label)).toEqual(["true_positive", "true_positive"]);
      expect(await snapshot([revoked.keyId, orphan.keyId])).toEqual(before);
    });

    it("verifies over the exact bytes: whitespace, unicode and unknown fields in the body are fine", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { key } = await h.createKey();
      const body = `[\n  {"token" : "${key}", "type":"${TYPE}",\t"url":"https://github.com/\u00fcber/r\u00e9po/blob/main/\u65e5\u672c.md","source":"content","secret_type_display_name":"Latch key"}\n]\n`;
      const res = await report(github, body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([{ token_raw: key, token_type: TYPE, label: "true_positive" }]);
      expect((await h.verify(key)).code).toBe("NOT_FOUND");
    });

    it("accepts any configured key (rotation): GitHub may sign with a key that is not the current one", async () => {
      const h = await Harness.init();
      const current = await newSigner("kid_current");
      const previous = await newSigner("kid_previous");
      const { key } = await h.createKey();
      const res = await report(previous, alerts(alert(key)), keysConfig(current, previous));
      expect(res.status).toBe(200);
      expect((await h.verify(key)).code).toBe("NOT_FOUND");
    });

    it("each revocation is in its workspace's audit log, by the system actor, in one request's correlation; the chain stays valid", async () => {
      const github = await newSigner("kid_current");
      const a = await Harness.init();
      const b = await Harness.init();
      await b.post("/v2/apis.updateApi", { apiId: b.apiId, leakedKeyAction: "disable" });
      const ka = await a.createKey();
      const kb = await b.createKey();
      const root = await a.createRootKey(["api.*.read_api"]);
      const body = alerts(alert(ka.key), alert(kb.key), alert(root));
      // Unsigned first: a 400, and (see the exact lists below) nothing logged.
      expect((await send(body, { "github-public-key-identifier": github.kid }, keysConfig(github))).status).toBe(400);
      const signed = await send(
        body,
        {
          "github-public-key-identifier": github.kid,
          "github-public-key-signature": await sign(github, body),
          "user-agent": "GitHub-Secret-Scanning/1.0",
          "cf-connecting-ip": "192.0.2.44",
        },
        keysConfig(github),
      );
      expect(signed.status).toBe(200);

      const system = { type: "system", id: "github_secret_scanning" };
      const logA = (await a.post("/v2/auditlogs.listLogs", { actorId: "github_secret_scanning" })).body.data as any[];
      expect(logA.map((e) => e.event).sort()).toEqual(["key.delete", "rootKey.delete"]);
      for (const e of logA) expect(e).toMatchObject({ actor: system, remoteIp: "192.0.2.44", userAgent: "GitHub-Secret-Scanning/1.0" });
      expect(logA.find((e) => e.event === "key.delete").resources).toContainEqual({ type: "key", id: ka.keyId });
      // Every revocation names where the key leaked.
      for (const e of logA) {
        expect(e.meta).toMatchObject({ reason: "leaked", url: "https://github.com/octo/app/blob/main/config.js", source: "content" });
      }
      const logB = (await b.post("/v2/auditlogs.listLogs", { actorId: "github_secret_scanning" })).body.data as any[];
      expect(logB).toEqual([expect.objectContaining({ event: "key.update", actor: system })]);
      expect(new Set([...logA, ...logB].map((e) => e.correlationId)).size).toBe(1);
      // No event carries a token.
      expect(JSON.stringify([logA, logB])).not.toContain(ka.key.slice(3));
      expect(JSON.stringify([logA, logB])).not.toContain(root.slice(10));
      for (const h of [a, b]) expect((await h.post("/v2/auditlogs.verifyChain", {})).body.data).toMatchObject({ valid: true });
    });

    it("is documented in /openapi.json as a Latch extension authenticated by GitHub's signature", async () => {
      await Harness.init();
      const doc = (await (await app.request(`${BASE_URL}/openapi.json`, {}, env)).json()) as any;
      const op = doc.paths[PATH].post;
      expect(op.operationId).toBe("github.secretScanning");
      expect(op["x-latch-extension"]).toBe(true);
      expect(op.security).toEqual([{ githubSignature: [] }]);
      expect(doc.components.securitySchemes.githubSignature).toMatchObject({ type: "apiKey", in: "header", name: "Github-Public-Key-Signature" });
      expect(doc.components.schemas.GithubSecretScanningAlerts.type).toBe("array");
    });
  });

  describe("errors", () => {
    it("412 while no public keys are configured (the default), naming the variable; nothing changes", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { keyId, key } = await h.createKey();
      const body = alerts(alert(key));
      const headers = { "github-public-key-identifier": github.kid, "github-public-key-signature": await sign(github, body) };
      for (const config of [undefined, "", "   "]) {
        const res = await send(body, headers, config);
        expect(res.status, String(config)).toBe(412);
        expect((res.body as any).error.type).toBe(`${ERR}unkey/application/precondition_failed`);
        expect((res.body as any).error.detail).toContain("GITHUB_SECRET_SCANNING_KEYS");
      }
      expect((await keyRow(keyId)).deleted_at).toBeNull();
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("412 for a configuration that does not parse, saying why; nothing changes", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { key } = await h.createKey();
      for (const [config, why] of [
        ["not json", "not JSON"],
        [JSON.stringify({ public_keys: [] }), "expected"],
        [JSON.stringify({ public_keys: [{ key_identifier: "kid_current", key: "MFkwEwYH", is_current: true }] }), "not a PEM public key"],
      ] as const) {
        const res = await report(github, alerts(alert(key)), config);
        expect(res.status, config).toBe(412);
        expect((res.body as any).error.detail).toContain("GITHUB_SECRET_SCANNING_KEYS");
        expect((res.body as any).error.detail).toContain(why);
      }
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("400 for a signed body that is not an alert batch; nothing changes", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { key } = await h.createKey();
      for (const body of ["[]", "{}", `{"token":"${key}"}`, `[{"token":"${key}"}]`, `[{"token":"","type":"${TYPE}"}]`, "null", `"${key}"`]) {
        const res = await report(github, body);
        expect(res.status, body).toBe(400);
        expect((res.body as any).error.type).toBe(`${ERR}unkey/application/invalid_input`);
        expect((res.body as any).error.errors.length).toBeGreaterThan(0);
      }
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("400 for a body that is not JSON, or not sent as JSON", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { key } = await h.createKey();
      const notJson = await report(github, "[{");
      expect(notJson.status).toBe(400);
      const body = alerts(alert(key));
      const plain = await send(body, { "content-type": "text/plain", "github-public-key-identifier": github.kid, "github-public-key-signature": await sign(github, body) }, keysConfig(github));
      expect(plain.status).toBe(400);
      expect((await h.verify(key)).code).toBe("VALID");
    });
  });

  describe("security: a forged or unsigned alert changes nothing", () => {
    it("400 without the signature headers, whatever else the request carries (a root key grants nothing here)", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { keyId, key } = await h.createKey();
      const before = await snapshot([keyId]);
      const body = alerts(alert(key));
      const signature = await sign(github, body);
      const cases: Array<Record<string, string>> = [
        {},
        { "github-public-key-identifier": github.kid },
        { "github-public-key-signature": signature },
        { authorization: `Bearer ${h.rootKey}` },
        { "github-public-key-identifier": "", "github-public-key-signature": signature },
      ];
      for (const headers of cases) {
        const res = await send(body, headers, keysConfig(github));
        expect(res.status, JSON.stringify(Object.keys(headers))).toBe(400);
        expect((res.body as any).error.type).toBe(`${ERR}unkey/authentication/missing`);
      }
      const both = await send(body, {}, keysConfig(github));
      expect((both.body as any).error.errors.map((e: { location: string }) => e.location)).toEqual([
        "header.github-public-key-identifier",
        "header.github-public-key-signature",
      ]);
      expect(await snapshot([keyId])).toEqual(before);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("401 for a signature by another key pair, even under the configured key's identifier", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const attacker = await newSigner("kid_current");
      const { keyId, key } = await h.createKey();
      const before = await snapshot([keyId]);
      const res = await report(attacker, alerts(alert(key)), keysConfig(github));
      expect(res.status).toBe(401);
      expect((res.body as any).error.type).toBe(`${ERR}unkey/authentication/key_not_found`);
      expect(await snapshot([keyId])).toEqual(before);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("401 for a genuine signature over another body (a victim's token swapped in, or appended)", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const reported = await h.createKey();
      const victim = await h.createKey();
      const genuine = alerts(alert(reported.key));
      const signature = await sign(github, genuine);
      const before = await snapshot([reported.keyId, victim.keyId]);
      for (const forged of [
        alerts(alert(victim.key)),
        alerts(alert(reported.key), alert(victim.key)),
        genuine + "\n",
        ` ${genuine}`,
        genuine.replace("content", "commit"),
      ]) {
        const res = await send(forged, { "github-public-key-identifier": github.kid, "github-public-key-signature": signature }, keysConfig(github));
        expect(res.status, forged.slice(0, 40)).toBe(401);
      }
      expect(await snapshot([reported.keyId, victim.keyId])).toEqual(before);
      expect((await h.verify(victim.key)).code).toBe("VALID");
      expect((await h.verify(reported.key)).code).toBe("VALID");
    });

    it("401 for an unknown key identifier, and for malformed signatures", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { keyId, key } = await h.createKey();
      const body = alerts(alert(key));
      const good = await sign(github, body);
      const raw = Uint8Array.from(atob(good), (c) => c.charCodeAt(0));
      const before = await snapshot([keyId]);
      const cases: Array<[string, string]> = [
        ["kid_unknown", good],
        [github.kid, "not base64!"],
        [github.kid, good.slice(0, 20)],
        [github.kid, btoa(String.fromCharCode(...raw.slice(0, raw.length - 1)))],
        [github.kid, btoa("x".repeat(64))], // raw r||s instead of DER
        [github.kid, "A".repeat(200)],
        [github.kid, btoa(String.fromCharCode(0x30, 6, 0x02, 1, 0, 0x02, 1, 0))], // r = s = 0
      ];
      for (const [kid, signature] of cases) {
        const res = await send(body, { "github-public-key-identifier": kid, "github-public-key-signature": signature }, keysConfig(github));
        expect(res.status, `${kid} ${signature.slice(0, 30)}`).toBe(401);
      }
      expect(await snapshot([keyId])).toEqual(before);
      expect((await h.verify(key)).code).toBe("VALID");
    });

    it("the signature is checked before the body is read: a forged non-alert body is a 401, not a 400", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const attacker = await newSigner("kid_current");
      await h.createKey();
      const res = await report(attacker, "{}", keysConfig(github));
      expect(res.status).toBe(401);
    });

    it("the reply says only what GitHub's format says: no key ids, workspaces or names", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const { keyId, key } = await h.createKey({ name: "secret-name", meta: { owner: "alice" } });
      const res = await report(github, alerts(alert(key)));
      for (const item of res.body) expect(Object.keys(item).sort()).toEqual(["label", "token_raw", "token_type"]);
      const text = JSON.stringify(res.body);
      for (const secret of [keyId, h.workspaceId, h.apiId, "secret-name", "alice"]) expect(text).not.toContain(secret);
    });

    it("a token is never stored: not in D1 rows of the report, nor in KV", async () => {
      const h = await Harness.init();
      const github = await newSigner("kid_current");
      const unknown = `sk_${"Z".repeat(30)}`;
      await report(github, alerts(alert(unknown)));
      const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'").all<{ name: string }>();
      for (const { name } of results) {
        const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
        expect(JSON.stringify(rows.results), name).not.toContain(unknown);
      }
      const listed = await env.EDGE.list();
      for (const k of listed.keys) expect(JSON.stringify(await env.EDGE.get(k.name)) + k.name).not.toContain(unknown);
      expect(h.workspaceId).toBeTruthy();
    });
  });
});
