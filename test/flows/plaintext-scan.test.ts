/**
 * Secrets never land in stored state: create root and customer keys of every shape, exercise them (verify,
 * whoami, reroll, update, delete), then read back every D1 table, every KV entry and every Durable Object's
 * storage, plus everything the Worker logged, and look for each plaintext and its random part.
 */
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Harness } from "../harness";

const logged: string[] = [];

beforeAll(() => {
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    const original = console[level].bind(console);
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      logged.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      original(...args);
    });
  }
});

afterAll(() => vi.restoreAllMocks());

async function dumpD1(): Promise<string> {
  const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'").all<{ name: string }>();
  const parts: string[] = [];
  for (const { name } of tables.results) {
    const rows = await env.DB.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all();
    parts.push(JSON.stringify(rows.results));
  }
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

async function dumpDurableObjects(): Promise<{ text: string; objects: number }> {
  const ids = await listDurableObjectIds(env.KEY_STATE);
  const parts: string[] = [];
  for (const id of ids) {
    const stub = env.KEY_STATE.get(id);
    parts.push(await runInDurableObject(stub, async (_instance, state) => JSON.stringify([...(await state.storage.list()).entries()])));
  }
  return { text: parts.join("\n"), objects: ids.length };
}

describe("no plaintext key in stored state", () => {
  it("D1, KV, Durable Object storage and logs hold no key, root or customer", async () => {
    const h = await Harness.init();
    const narrowRoot = await h.createRootKey([`api.${h.apiId}.verify_key`]);
    const plain = await h.createKey();
    const prefixed = await h.createKey({ prefix: "sk_live", byteLength: 32, name: "full", externalId: "cust_1" });
    const limited = await h.createKey({
      credits: { remaining: 5 },
      ratelimits: [{ name: "requests", limit: 10, duration: 60_000, autoApply: true }],
    });
    const toDelete = await h.createKey();
    const toReroll = await h.createKey({ prefix: "rr" });

    for (const k of [plain, prefixed, limited, toReroll]) expect((await h.verify(k.key)).code).toBe("VALID");
    expect((await h.verify(limited.key, narrowRoot)).code).toBe("VALID");
    expect((await h.post("/v2/keys.whoami", { key: prefixed.key })).status).toBe(200);
    expect((await h.post("/v2/keys.updateKey", { keyId: limited.keyId, name: "renamed" })).status).toBe(200);
    expect((await h.post("/v2/keys.deleteKey", { keyId: toDelete.keyId })).status).toBe(200);
    const rerolled = await h.post<{ data: { key: string } }>("/v2/keys.rerollKey", { keyId: toReroll.keyId, expiration: 0 });
    expect(rerolled.status).toBe(200);
    expect((await h.verify(rerolled.body.data.key)).code).toBe("VALID");
    // A failed call carrying a key must not echo it either.
    await h.post("/v2/keys.verifyKey", { key: plain.key, unexpected: plain.key });
    await h.post("/v2/keys.whoami", { key: plain.key }, { key: "latch_root_notARealKey" });

    const secrets = [h.rootKey, narrowRoot, plain.key, prefixed.key, limited.key, toDelete.key, toReroll.key, rerolled.body.data.key];
    const d1 = await dumpD1();
    const kv = await dumpKv();
    const dos = await dumpDurableObjects();
    expect(d1.length).toBeGreaterThan(0);
    expect(kv).toContain("key:hash:");
    expect(dos.objects).toBeGreaterThan(0);
    const logs = logged.join("\n");
    for (const secret of secrets) {
      const random = secret.slice(secret.lastIndexOf("_") + 1);
      for (const [where, text] of [["D1", d1], ["KV", kv], ["Durable Objects", dos.text], ["logs", logs]] as const) {
        expect(text.includes(secret), `${where} contains a plaintext key`).toBe(false);
        expect(text.includes(random), `${where} contains a key's random part`).toBe(false);
      }
    }
  });
});
