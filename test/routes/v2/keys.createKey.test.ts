import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { KeysCreateKeyResponse } from "../../../src/routes/v2/keys.createKey";
import type { KeysGetKeyResponse } from "../../../src/routes/v2/keys.getKey";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BASE58_RE = /^[1-9A-HJ-NP-Za-km-z]+$/;

/** Number of bytes a base58 string encodes (leading "1"s are zero bytes), to check byteLength exactly. */
function base58ByteLength(s: string): number {
  let n = 0n;
  for (const ch of s) {
    const d = BASE58.indexOf(ch);
    if (d < 0) throw new Error(`not base58: ${ch}`);
    n = n * 58n + BigInt(d);
  }
  let zeros = 0;
  while (s[zeros] === "1") zeros++;
  let bytes = 0;
  while (n > 0n) {
    n >>= 8n;
    bytes++;
  }
  return zeros + bytes;
}

async function getKey(h: Harness, keyId: string): Promise<KeysGetKeyResponse["data"]> {
  const res = await h.post<KeysGetKeyResponse>("/v2/keys.getKey", { keyId });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

async function expectInvalid(h: Harness, body: Record<string, unknown>, location: string): Promise<void> {
  const res = await h.post("/v2/keys.createKey", { apiId: h.apiId, ...body });
  expect(res.status, JSON.stringify(body)).toBe(400);
  expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
  expect(res.body.error.status).toBe(400);
  const locations: string[] = res.body.error.errors.map((e: { location: string }) => e.location);
  expect(locations, JSON.stringify(body)).toContain(location);
}

describe("keys.createKey", () => {
  describe("happy", () => {
    it("returns prefix_ + base58 of 16 random bytes by default, and the key verifies at once", async () => {
      const h = await Harness.init();
      const res = await h.post<KeysCreateKeyResponse>("/v2/keys.createKey", { apiId: h.apiId, prefix: "sk" });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.meta.requestId).toMatch(/^req_/);
      const { keyId, key } = res.body.data;
      expect(keyId).toMatch(/^key_[a-zA-Z0-9]+$/);
      expect(key.startsWith("sk_")).toBe(true);
      const random = key.slice(3);
      expect(random).toMatch(BASE58_RE);
      expect(base58ByteLength(random)).toBe(16);
      // 16 bytes are 21-22 base58 characters (21 when the number happens to be < 58^21, about 3% of keys;
      // 20 or fewer has probability < 0.1%, so the floor here is 20 to keep the test deterministic enough).
      expect(random.length).toBeLessThanOrEqual(22);
      expect(random.length).toBeGreaterThanOrEqual(20);

      const v = await h.verify(key);
      expect(v).toMatchObject({ valid: true, code: "VALID", keyId, enabled: true });
    });

    it("every key encodes exactly 16 random bytes and no two keys are alike", async () => {
      const h = await Harness.init();
      const keys = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const { key } = await h.createKey({ prefix: "pk" });
        const random = key.slice(3);
        expect(base58ByteLength(random)).toBe(16);
        expect([20, 21, 22]).toContain(random.length);
        keys.add(key);
      }
      expect(keys.size).toBe(5);
    });

    it("byteLength 32 gives a longer key; no prefix gives bare base58", async () => {
      const h = await Harness.init();
      const long = await h.createKey({ prefix: "sk", byteLength: 32 });
      const random = long.key.slice(3);
      expect(random).toMatch(BASE58_RE);
      expect(base58ByteLength(random)).toBe(32);
      expect(random.length).toBeGreaterThan(22);
      expect(random.length).toBeLessThanOrEqual(44);
      expect((await h.verify(long.key)).code).toBe("VALID");

      const bare = await h.createKey();
      expect(bare.key).toMatch(BASE58_RE);
      expect(bare.key).not.toContain("_");
      expect(base58ByteLength(bare.key)).toBe(16);
      expect((await getKey(h, bare.keyId)).start).toBe(bare.key.slice(0, 4));
      expect((await h.verify(bare.key)).code).toBe("VALID");

      const max = await h.createKey({ byteLength: 255 });
      expect(base58ByteLength(max.key)).toBe(255);
      expect((await h.verify(max.key)).code).toBe("VALID");
    });

    it("start is prefix_ plus the first 4 characters, including multi-underscore and 16-char prefixes", async () => {
      const h = await Harness.init();
      for (const prefix of ["sk", "sk_live", "A1_b2_C3_d4_e5_f"]) {
        const { keyId, key } = await h.createKey({ prefix });
        expect(key.startsWith(`${prefix}_`)).toBe(true);
        const random = key.slice(prefix.length + 1);
        expect(random).toMatch(BASE58_RE);
        expect((await getKey(h, keyId)).start).toBe(`${prefix}_${random.slice(0, 4)}`);
      }
    });

    it("every stored field round-trips through getKey, and verify sees them at once", async () => {
      const h = await Harness.init();
      const expires = Date.now() + 3_600_000;
      const before = Date.now();
      const { keyId, key } = await h.createKey({
        prefix: "sk",
        name: "billing",
        meta: { plan: "pro", nested: { a: [1, 2, { b: null }] }, flag: true },
        expires,
        externalId: "user_42",
        credits: { remaining: 100, refill: { interval: "daily", amount: 50 } },
        ratelimits: [
          { name: "requests", limit: 5, duration: 60_000, autoApply: true },
          { name: "tokens", limit: 1000, duration: 1000 },
        ],
      });
      const data = await getKey(h, keyId);
      expect(data).toMatchObject({
        keyId,
        start: key.slice(0, 7),
        enabled: true,
        name: "billing",
        meta: { plan: "pro", nested: { a: [1, 2, { b: null }] }, flag: true },
        expires,
        credits: { remaining: 100, refill: { interval: "daily", amount: 50 } },
        identity: { externalId: "user_42" },
        permissions: [],
        roles: [],
      });
      expect(data.credits?.refill).not.toHaveProperty("refillDay");
      expect(data.createdAt).toBeGreaterThanOrEqual(before - 1000);
      expect(data.createdAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(data).not.toHaveProperty("updatedAt");
      expect(data.identity?.id).toMatch(/^id_/);
      const limits = [...(data.ratelimits ?? [])].sort((a, b) => a.name.localeCompare(b.name));
      expect(limits).toEqual([
        { id: expect.stringMatching(/^rl_/), name: "requests", limit: 5, duration: 60_000, autoApply: true },
        // autoApply defaults to false
        { id: expect.stringMatching(/^rl_/), name: "tokens", limit: 1000, duration: 1000, autoApply: false },
      ]);
      expect(JSON.stringify(data)).not.toContain(key);

      const v = await h.verify(key);
      expect(v).toMatchObject({
        valid: true,
        code: "VALID",
        keyId,
        name: "billing",
        meta: { plan: "pro" },
        expires,
        // Remaining credits (whether this verify already spent one is the credits feature's business).
        credits: expect.any(Number),
        enabled: true,
        identity: { id: data.identity?.id, externalId: "user_42" },
      });
    });

    it("monthly refill keeps its refillDay", async () => {
      const h = await Harness.init();
      const { keyId } = await h.createKey({ credits: { remaining: 0, refill: { interval: "monthly", amount: 10, refillDay: 15 } } });
      expect((await getKey(h, keyId)).credits).toEqual({ remaining: 0, refill: { interval: "monthly", amount: 10, refillDay: 15 } });
    });

    it("credits {remaining: null} means unlimited: no credits in getKey", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ credits: { remaining: null } });
      expect(await getKey(h, keyId)).not.toHaveProperty("credits");
      const v = await h.verify(key);
      expect(v.code).toBe("VALID");
      expect(v).not.toHaveProperty("credits");
    });

    it("enabled:false is stored and the key verifies DISABLED", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ enabled: false });
      expect((await getKey(h, keyId)).enabled).toBe(false);
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "DISABLED", keyId, enabled: false });
    });

    it("expires in the past is accepted and the key verifies EXPIRED", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ expires: Date.now() - 1000 });
      expect(await h.verify(key)).toMatchObject({ valid: false, code: "EXPIRED" });
    });

    it("externalId creates an identity once; a second key with the same externalId links the same identity", async () => {
      const h = await Harness.init();
      const externalId = `user.${Math.random().toString(36).slice(2)}-x`;
      const first = await h.createKey({ externalId });
      const second = await h.createKey({ externalId });
      const a = await getKey(h, first.keyId);
      const b = await getKey(h, second.keyId);
      expect(a.identity?.externalId).toBe(externalId);
      expect(a.identity?.id).toMatch(/^id_/);
      expect(b.identity?.id).toBe(a.identity?.id);
      const rows = await h.post("/v2/apis.listKeys", { apiId: h.apiId, externalId });
      expect(rows.status).toBe(200);
      expect(rows.body.data.map((k: { keyId: string }) => k.keyId).sort()).toEqual([first.keyId, second.keyId].sort());

      // The same externalId in another workspace is another identity.
      const other = await Harness.init();
      const third = await other.createKey({ externalId });
      const c = await getKey(other, third.keyId);
      expect(c.identity?.externalId).toBe(externalId);
      expect(c.identity?.id).not.toBe(a.identity?.id);
    });

    it("the SDK creates a key and reads it back", async () => {
      const h = await Harness.init();
      const sdk = h.sdk();
      const created = await sdk.keys.createKey({
        apiId: h.apiId,
        prefix: "sdk",
        name: "from-sdk",
        meta: { source: "sdk" },
        externalId: "sdk_user",
        credits: { remaining: 7, refill: { interval: "monthly", amount: 7, refillDay: 1 } },
        ratelimits: [{ name: "requests", limit: 10, duration: 1000, autoApply: false }],
        byteLength: 24,
      });
      expect(created.meta.requestId).toMatch(/^req_/);
      expect(created.data.keyId).toMatch(/^key_/);
      expect(created.data.key.startsWith("sdk_")).toBe(true);
      expect(base58ByteLength(created.data.key.slice(4))).toBe(24);

      const got = await sdk.keys.getKey({ keyId: created.data.keyId });
      expect(got.data).toMatchObject({
        keyId: created.data.keyId,
        start: created.data.key.slice(0, 8),
        enabled: true,
        name: "from-sdk",
        meta: { source: "sdk" },
        credits: { remaining: 7, refill: { interval: "monthly", amount: 7, refillDay: 1 } },
        identity: { externalId: "sdk_user" },
        ratelimits: [{ name: "requests", limit: 10, duration: 1000, autoApply: false }],
      });
      const v = await sdk.keys.verifyKey({ key: created.data.key });
      expect(v.data).toMatchObject({ valid: true, code: "VALID", keyId: created.data.keyId });
      expect(v.data.credits).toBeLessThanOrEqual(7);
    });

    it("permissions (missing slugs created) and roles are attached with the key, and verify sees them at once", async () => {
      const h = await Harness.init();
      const role = await h.post("/v2/permissions.createRole", { name: "editor", permissions: ["documents.write", "documents.read"] });
      expect(role.status, JSON.stringify(role.body)).toBe(200);
      const { keyId, key } = await h.createKey({ permissions: ["documents.read", "billing.view", "billing.view"], roles: ["editor"] });
      const data = await getKey(h, keyId);
      expect(data.permissions).toEqual(["billing.view", "documents.read", "documents.write"]);
      expect(data.roles).toEqual(["editor"]);
      const verify = await h.post("/v2/keys.verifyKey", { key, permissions: "billing.view AND documents.write" });
      expect(verify.body.data).toMatchObject({ valid: true, code: "VALID", roles: ["editor"] });
      // Each slug exists once in the workspace, however many keys name it.
      await h.createKey({ permissions: ["billing.view"] });
      const slugs = await env.DB.prepare("SELECT slug FROM permissions WHERE workspace_id = ? ORDER BY slug").bind(h.workspaceId).all<{ slug: string }>();
      expect(slugs.results.map((r) => r.slug)).toEqual(["billing.view", "documents.read", "documents.write"]);
    });

    it("the SDK creates a key with permissions and roles (by id)", async () => {
      const h = await Harness.init();
      const role = await h.post("/v2/permissions.createRole", { name: "viewer" });
      const created = await h.sdk().keys.createKey({ apiId: h.apiId, permissions: ["sdk.read"], roles: [role.body.data.roleId] });
      const got = await h.sdk().keys.getKey({ keyId: created.data.keyId });
      expect(got.data).toMatchObject({ permissions: ["sdk.read"], roles: ["viewer"] });
    });
  });

  describe("errors", () => {
    it("400 for invalid credits and refill", async () => {
      const h = await Harness.init();
      await expectInvalid(h, { credits: { remaining: 10, refill: { interval: "monthly", amount: 5 } } }, "body.credits.refill.refillDay");
      await expectInvalid(h, { credits: { remaining: 10, refill: { interval: "daily", amount: 5, refillDay: 3 } } }, "body.credits.refill.refillDay");
      await expectInvalid(h, { credits: { remaining: null, refill: { interval: "daily", amount: 5 } } }, "body.credits.refill");
      await expectInvalid(h, { credits: { remaining: -1 } }, "body.credits.remaining");
      await expectInvalid(h, { credits: { remaining: 10, refill: { interval: "daily", amount: 0 } } }, "body.credits.refill.amount");
      await expectInvalid(h, { credits: { remaining: 10, refill: { interval: "monthly", amount: 5, refillDay: 32 } } }, "body.credits.refill.refillDay");
      await expectInvalid(h, { credits: { remaining: 10, refill: { interval: "weekly", amount: 5 } } }, "body.credits.refill.interval");
    });

    it("400 for invalid ratelimits", async () => {
      const h = await Harness.init();
      await expectInvalid(
        h,
        { ratelimits: [{ name: "requests", limit: 1, duration: 1000 }, { name: "requests", limit: 2, duration: 2000 }] },
        "body.ratelimits[1].name",
      );
      await expectInvalid(h, { ratelimits: [{ name: "requests", limit: 1, duration: 999 }] }, "body.ratelimits[0].duration");
      await expectInvalid(h, { ratelimits: [{ name: "requests", limit: 0, duration: 1000 }] }, "body.ratelimits[0].limit");
      await expectInvalid(h, { ratelimits: [{ name: "ab", limit: 1, duration: 1000 }] }, "body.ratelimits[0].name");
    });

    it("400 for byteLength, prefix, expires, meta and unknown fields", async () => {
      const h = await Harness.init();
      await expectInvalid(h, { byteLength: 15 }, "body.byteLength");
      await expectInvalid(h, { byteLength: 256 }, "body.byteLength");
      await expectInvalid(h, { byteLength: 16.5 }, "body.byteLength");
      await expectInvalid(h, { prefix: "sk-live" }, "body.prefix");
      await expectInvalid(h, { prefix: "a".repeat(17) }, "body.prefix");
      await expectInvalid(h, { prefix: "" }, "body.prefix");
      await expectInvalid(h, { expires: 4_102_444_800_001 }, "body.expires");
      await expectInvalid(h, { expires: -1 }, "body.expires");
      await expectInvalid(h, { meta: "not an object" }, "body.meta");
      await expectInvalid(h, { meta: [1, 2] }, "body.meta");
      await expectInvalid(h, { meta: 5 }, "body.meta");
      await expectInvalid(h, { name: "" }, "body.name");
      await expectInvalid(h, { externalId: "has space" }, "body.externalId");
      await expectInvalid(h, { permissions: ["has space"] }, "body.permissions[0]");
      await expectInvalid(h, { permissions: ["x".repeat(129)] }, "body.permissions[0]");
      await expectInvalid(h, { permissions: Array.from({ length: 1001 }, (_, i) => `p${i}`) }, "body.permissions");
      await expectInvalid(h, { roles: [""] }, "body.roles[0]");
      await expectInvalid(h, { roles: Array.from({ length: 101 }, (_, i) => `r${i}`) }, "body.roles");
      await expectInvalid(h, { enabled: "yes" }, "body.enabled");
      // The boundary itself is fine.
      const ok = await h.post("/v2/keys.createKey", { apiId: h.apiId, expires: 4_102_444_800_000, prefix: "a".repeat(16) });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    });

    it("400 when apiId is missing or malformed", async () => {
      const h = await Harness.init();
      const missing = await h.post("/v2/keys.createKey", {});
      expect(missing.status).toBe(400);
      expect(missing.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.apiId");
      const malformed = await h.post("/v2/keys.createKey", { apiId: "api with spaces" });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.errors.map((e: { location: string }) => e.location)).toContain("body.apiId");
    });

    it("nothing is created when the request is refused", async () => {
      const h = await Harness.init();
      const externalId = `refused_${Math.random().toString(36).slice(2)}`;
      const res = await h.post("/v2/keys.createKey", {
        apiId: h.apiId,
        externalId,
        ratelimits: [{ name: "dup", limit: 1, duration: 1000 }, { name: "dup", limit: 1, duration: 1000 }],
      });
      expect(res.status).toBe(400);
      const list = await h.post("/v2/apis.listKeys", { apiId: h.apiId, externalId });
      expect(list.status).toBe(200);
      expect(list.body.data).toEqual([]);
    });

    it("404 role_not_found for a role the workspace does not have; no key or permission is created", async () => {
      const h = await Harness.init();
      const theirs = await Harness.init();
      await theirs.post("/v2/permissions.createRole", { name: "theirs" });
      for (const roles of [["ghost"], ["theirs"]]) {
        const res = await h.post("/v2/keys.createKey", { apiId: h.apiId, externalId: "refused_role", permissions: ["would.be.created"], roles });
        expect(res.status).toBe(404);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/role_not_found");
        expect(res.body.error.detail).toContain(roles[0]);
      }
      const list = await h.post("/v2/apis.listKeys", { apiId: h.apiId });
      expect(list.body.data).toEqual([]);
      const perms = await env.DB.prepare("SELECT count(*) AS n FROM permissions WHERE workspace_id = ?").bind(h.workspaceId).first<{ n: number }>();
      expect(perms!.n).toBe(0);
    });

    it("permissions need add_permission_to_key (and create_permission for new slugs); roles need add_role_to_key", async () => {
      const h = await Harness.init();
      await h.post("/v2/permissions.createRole", { name: "r" });
      await h.createKey({ permissions: ["exists"] });
      const createOnly = await h.createRootKey(["api.*.create_key"]);
      const adder = await h.createRootKey(["api.*.create_key", "rbac.*.add_permission_to_key"]);
      const roleAdder = await h.createRootKey(["api.*.create_key", "rbac.*.add_role_to_key"]);
      const cases: Array<[string, Record<string, unknown>, number]> = [
        [createOnly, { permissions: ["exists"] }, 403],
        [createOnly, { roles: ["r"] }, 403],
        [adder, { permissions: ["exists", "brand.new"] }, 403],
        [adder, { permissions: ["exists"] }, 200],
        [adder, { roles: ["r"] }, 403],
        [roleAdder, { roles: ["r"] }, 200],
        // Empty lists grant nothing and need nothing.
        [createOnly, { permissions: [], roles: [] }, 200],
      ];
      for (const [key, body, status] of cases) {
        const res = await h.post("/v2/keys.createKey", { apiId: h.apiId, ...body }, { key });
        expect(res.status, JSON.stringify(body)).toBe(status);
        if (status === 403) expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
      }
      const slugs = await env.DB.prepare("SELECT slug FROM permissions WHERE workspace_id = ?").bind(h.workspaceId).all<{ slug: string }>();
      expect(slugs.results.map((r) => r.slug)).toEqual(["exists"]);
    });

    it("404 api_not_found for an unknown or deleted API", async () => {
      const h = await Harness.init();
      const unknown = await h.post("/v2/keys.createKey", { apiId: "api_doesNotExist000000" });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/api_not_found");

      const apiId = await h.createApi("doomed-api");
      const del = await h.post("/v2/apis.deleteApi", { apiId });
      expect(del.status).toBe(200);
      const deleted = await h.post("/v2/keys.createKey", { apiId });
      expect(deleted.status).toBe(404);
      expect(deleted.body.error.type).toBe("https://unkey.com/docs/errors/unkey/data/api_not_found");
    });

    it("recoverable:true → 412 with encrypt_key (no API stores encrypted keys), 403 without it", async () => {
      const h = await Harness.init();
      const res = await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true });
      expect(res.status).toBe(412);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/precondition_failed");

      const createOnly = await h.createRootKey(["api.*.create_key"]);
      const denied = await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: true }, { key: createOnly });
      expect(denied.status).toBe(403);
      expect(denied.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");

      // recoverable:false is the default and needs nothing more.
      const plain = await h.post("/v2/keys.createKey", { apiId: h.apiId, recoverable: false }, { key: createOnly });
      expect(plain.status).toBe(200);
    });
  });

  describeSecurity({
    operation: "keys.createKey",
    setup: async (h) => ({ body: { apiId: h.apiId }, apiId: h.apiId }),
    grant: (apiId = "*") => [`api.${apiId}.create_key`],
    missing: () => ({ apiId: "api_doesNotExist000000" }),
  });
});
