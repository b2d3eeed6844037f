/**
 * Permissions and roles on keys, seen by verify: removing a role or a permission from a key is seen by the
 * very next verify (issue 4), on this isolate and on a cold one that reads KV; adding one is seen at once
 * too; and permissions through roles are merged with direct ones, without duplicates, in verify, getKey
 * and listKeys. `recordCache(5000).clear()` stands in for another isolate whose cache is cold.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/lib/hash";
import { recordCache } from "../../src/services/cache";
import { Harness } from "../harness";

const CACHE_TTL_MS = 5000;

function coldIsolate(): void {
  recordCache(CACHE_TTL_MS).clear();
}

async function kvEntry(key: string): Promise<any> {
  return env.EDGE.get(`key:hash:${await hashKey(key)}`, "json");
}

async function ok(res: Promise<{ status: number; body: unknown }>): Promise<void> {
  const r = await res;
  if (r.status !== 200) throw new Error(`request failed: ${r.status} ${JSON.stringify(r.body)}`);
}

async function createRole(h: Harness, name: string, permissions: string[]): Promise<string> {
  const res = await h.post("/v2/permissions.createRole", { name, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.roleId;
}

async function verifyCode(h: Harness, key: string, permissions: string): Promise<string> {
  const res = await h.post("/v2/keys.verifyKey", { key, permissions });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.code;
}

/** Verifies once (warming this isolate's cache) and waits until KV holds that record too. */
async function warm(h: Harness, key: string, query: string, code: string): Promise<void> {
  expect(await verifyCode(h, key, query)).toBe(code);
  await vi.waitFor(async () => expect(await kvEntry(key)).toEqual({ v: 1, record: expect.objectContaining({ revision: 0 }) }), {
    timeout: 5000,
    interval: 20,
  });
}

type Change = {
  name: string;
  /** createKey fields that grant documents.read (the role "reader" carries it). */
  grant: Record<string, unknown>;
  change(h: Harness, keyId: string): Promise<void>;
};

const REMOVALS: Change[] = [
  {
    name: "removePermissions",
    grant: { permissions: ["documents.read"] },
    change: (h, keyId) => ok(h.post("/v2/keys.removePermissions", { keyId, permissions: ["documents.read"] })),
  },
  {
    name: "setPermissions []",
    grant: { permissions: ["documents.read"] },
    change: (h, keyId) => ok(h.post("/v2/keys.setPermissions", { keyId, permissions: [] })),
  },
  {
    name: "removeRoles (the role carrying it)",
    grant: { roles: ["reader"] },
    change: (h, keyId) => ok(h.post("/v2/keys.removeRoles", { keyId, roles: ["reader"] })),
  },
  {
    name: "setRoles []",
    grant: { roles: ["reader"] },
    change: (h, keyId) => ok(h.post("/v2/keys.setRoles", { keyId, roles: [] })),
  },
];

const ADDITIONS: Change[] = [
  {
    name: "addPermissions",
    grant: {},
    change: (h, keyId) => ok(h.post("/v2/keys.addPermissions", { keyId, permissions: ["documents.read"] })),
  },
  {
    name: "setPermissions",
    grant: {},
    change: (h, keyId) => ok(h.post("/v2/keys.setPermissions", { keyId, permissions: ["documents.read"] })),
  },
  { name: "addRoles", grant: {}, change: (h, keyId) => ok(h.post("/v2/keys.addRoles", { keyId, roles: ["reader"] })) },
  { name: "setRoles", grant: {}, change: (h, keyId) => ok(h.post("/v2/keys.setRoles", { keyId, roles: ["reader"] })) },
];

const KINDS: { kind: string; body: Record<string, unknown> }[] = [
  { kind: "plain key", body: {} },
  // Verifies of this key go through its Durable Object, which must learn the new revision.
  { kind: "key with credits", body: { credits: { remaining: 100 } } },
];

describe("permission and role changes reach verify at once", () => {
  for (const { kind, body } of KINDS) {
    for (const m of REMOVALS) {
      it(`Removing a role or a permission from a key is seen by the very next verify: ${m.name}, ${kind}`, async () => {
        const h = await Harness.init();
        await createRole(h, "reader", ["documents.read"]);
        const { keyId, key } = await h.createKey({ ...body, ...m.grant });
        await warm(h, key, "documents.read", "VALID");

        await m.change(h, keyId);

        // (a) this isolate: the change dropped the cached record.
        expect(await verifyCode(h, key, "documents.read")).toBe("INSUFFICIENT_PERMISSIONS");
        // (b) a cold isolate: KV already holds the new record.
        coldIsolate();
        expect(await verifyCode(h, key, "documents.read")).toBe("INSUFFICIENT_PERMISSIONS");
        const entry = await kvEntry(key);
        expect(entry).toEqual({ v: 1, record: expect.objectContaining({ keyId, revision: 1, permissions: [] }) });
        // The key itself still verifies without the query.
        expect((await h.verify(key)).code).toBe("VALID");
        if (kind === "key with credits") {
          // Refused verifies charge nothing: 1 for the first VALID, 1 for the last.
          const got = await h.post("/v2/keys.getKey", { keyId });
          expect(got.body.data.credits).toEqual({ remaining: 98 });
        }
      });
    }

    for (const m of ADDITIONS) {
      it(`Adding is seen by the very next verify: ${m.name}, ${kind}`, async () => {
        const h = await Harness.init();
        await createRole(h, "reader", ["documents.read"]);
        const { keyId, key } = await h.createKey(body);
        await warm(h, key, "documents.read", "INSUFFICIENT_PERMISSIONS");

        await m.change(h, keyId);

        expect(await verifyCode(h, key, "documents.read")).toBe("VALID");
        coldIsolate();
        expect(await verifyCode(h, key, "documents.read")).toBe("VALID");
        expect(await kvEntry(key)).toEqual({ v: 1, record: expect.objectContaining({ revision: 1, permissions: ["documents.read"] }) });
      });
    }
  }

  it("a permission held both directly and through roles is lost only when the last source goes", async () => {
    const h = await Harness.init();
    await createRole(h, "reader", ["documents.read"]);
    await createRole(h, "editor", ["documents.read", "documents.write"]);
    const { keyId, key } = await h.createKey({ permissions: ["documents.read"], roles: ["reader", "editor"] });
    await warm(h, key, "documents.read", "VALID");

    await ok(h.post("/v2/keys.removePermissions", { keyId, permissions: ["documents.read"] }));
    expect(await verifyCode(h, key, "documents.read")).toBe("VALID");
    await ok(h.post("/v2/keys.removeRoles", { keyId, roles: ["reader"] }));
    expect(await verifyCode(h, key, "documents.read AND documents.write")).toBe("VALID");
    await ok(h.post("/v2/keys.removeRoles", { keyId, roles: ["editor"] }));
    expect(await verifyCode(h, key, "documents.read")).toBe("INSUFFICIENT_PERMISSIONS");
    coldIsolate();
    expect(await verifyCode(h, key, "documents.read")).toBe("INSUFFICIENT_PERMISSIONS");
  });
});

describe("permissions through roles are merged with direct ones", () => {
  it("verify, getKey and listKeys list each permission once and the key's role names", async () => {
    const h = await Harness.init();
    await createRole(h, "reader", ["documents.read"]);
    await createRole(h, "editor", ["documents.read", "documents.write"]);
    const { keyId, key } = await h.createKey({ permissions: ["documents.read", "billing.view"], roles: ["reader", "editor"] });
    const expected = { permissions: ["billing.view", "documents.read", "documents.write"], roles: ["editor", "reader"] };

    expect(await h.verify(key)).toMatchObject({ valid: true, ...expected });
    coldIsolate();
    expect(await h.verify(key)).toMatchObject({ valid: true, ...expected });
    const got = await h.post("/v2/keys.getKey", { keyId });
    expect(got.body.data).toMatchObject(expected);
    const listed = await h.post("/v2/apis.listKeys", { apiId: h.apiId });
    expect(listed.body.data).toEqual([expect.objectContaining({ keyId, ...expected })]);
    // The SDK reads the same lists.
    expect((await h.sdk().keys.getKey({ keyId })).data).toMatchObject(expected);
    expect((await h.sdk().keys.verifyKey({ key })).data).toMatchObject(expected);
  });
});
