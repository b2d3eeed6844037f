/**
 * IP allow-lists per API (issue 6, item 4): `apis.updateApi {ipWhitelist}` restricts where verifies of the
 * API's keys may come from (`CF-Connecting-IP`, CIDR v4 and v6). Outside the list, or without the header,
 * a verify is FORBIDDEN, after NOT_FOUND/DISABLED/EXPIRED and before the permission query. The list travels
 * in every key's verification record, so a change republishes the API's keys and the next verify sees it.
 */
import { Unkey } from "@unkey/api";
import { HTTPClient } from "@unkey/api/lib/http";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/lib/hash";
import { recordCache } from "../../src/services/cache";
import { BASE_URL, Harness, workerFetch } from "../harness";

const ERR = "https://unkey.com/docs/errors/";
const INSIDE_V4 = "203.0.113.7";
const INSIDE_V6 = "2001:db8:1234::5";
const OUTSIDE = "198.51.100.20";
const LIST = ["203.0.113.0/24", "2001:db8::/32"];

async function setList(h: Harness, ipWhitelist: unknown, apiId = h.apiId): Promise<void> {
  const res = await h.post("/v2/apis.updateApi", { apiId, ipWhitelist });
  if (res.status !== 200) throw new Error(`updateApi failed: ${res.status} ${JSON.stringify(res.body)}`);
}

/** keys.verifyKey with these request headers (e.g. `cf-connecting-ip`); returns `data`. */
async function verifyWith(h: Harness, key: string, headers: Record<string, string> = {}, rootKey = h.rootKey): Promise<any> {
  const res = await h.post("/v2/keys.verifyKey", { key }, { key: rootKey, headers });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

const from = (h: Harness, key: string, ip: string) => verifyWith(h, key, { "cf-connecting-ip": ip });

async function revisions(apiId: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    "SELECT k.id, k.revision FROM keys k JOIN apis a ON a.keyspace_id = k.keyspace_id WHERE a.id = ? ORDER BY k.id",
  )
    .bind(apiId)
    .all<{ id: string; revision: number }>();
  return Object.fromEntries(results.map((r) => [r.id, r.revision]));
}

async function kvRecord(key: string): Promise<any> {
  return ((await env.EDGE.get(`key:hash:${await hashKey(key)}`, "json")) as any)?.record;
}

describe("IP allow-list", () => {
  describe("happy", () => {
    it("verifies from inside the list (v4 and v6) and is FORBIDDEN from outside, with the key described", async () => {
      const h = await Harness.init();
      const { keyId, key } = await h.createKey({ name: "office key", meta: { team: "a" } });
      await setList(h, LIST);

      expect(await from(h, key, INSIDE_V4)).toMatchObject({ valid: true, code: "VALID", keyId });
      expect(await from(h, key, INSIDE_V6)).toMatchObject({ valid: true, code: "VALID", keyId });
      // An IPv4 caller over a dual-stack socket may show as IPv4-mapped IPv6: still the same address.
      expect(await from(h, key, `::ffff:${INSIDE_V4}`)).toMatchObject({ valid: true, code: "VALID" });

      const refused = await from(h, key, OUTSIDE);
      expect(refused).toMatchObject({ valid: false, code: "FORBIDDEN", keyId, name: "office key", meta: { team: "a" }, enabled: true });
      expect(await from(h, key, "2001:db9::1")).toMatchObject({ valid: false, code: "FORBIDDEN" });
    });

    it("Unkey's SDK sees FORBIDDEN as a verification outcome (HTTP 200), and VALID from inside", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, LIST);
      const sdkFrom = (ip: string) =>
        new Unkey({
          rootKey: h.rootKey,
          serverURL: BASE_URL,
          retryConfig: { strategy: "none" },
          httpClient: new HTTPClient({
            fetcher: (input, init) => {
              const req = new Request(input, init);
              const headers = new Headers(req.headers);
              headers.set("cf-connecting-ip", ip);
              return workerFetch(new Request(req, { headers }));
            },
          }),
        });
      expect((await sdkFrom(OUTSIDE).keys.verifyKey({ key })).data).toMatchObject({ valid: false, code: "FORBIDDEN" });
      expect((await sdkFrom(INSIDE_V4).keys.verifyKey({ key })).data).toMatchObject({ valid: true, code: "VALID" });
    });

    it("stores the list canonically (deduplicated) and getApi shows it; null and [] clear it", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, ["2001:DB8:0:0::/32", "203.0.113.0/24", "203.0.113.0/24", "192.0.2.1", "::ffff:198.51.100.0/120"]);
      const got = await h.post("/v2/apis.getApi", { apiId: h.apiId });
      expect(got.body.data).toEqual({
        id: h.apiId,
        name: "test-api",
        ipWhitelist: ["2001:db8::/32", "203.0.113.0/24", "192.0.2.1/32", "198.51.100.0/24"],
      });
      expect(await from(h, key, "198.51.100.9")).toMatchObject({ code: "VALID" });

      await setList(h, null);
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data).toEqual({ id: h.apiId, name: "test-api" });
      expect(await verifyWith(h, key)).toMatchObject({ code: "VALID" });
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "VALID" });

      await setList(h, ["10.0.0.0/8"]);
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
      await setList(h, []);
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "VALID" });
      const row = await env.DB.prepare("SELECT ip_whitelist AS w FROM apis WHERE id = ?").bind(h.apiId).first<{ w: string | null }>();
      expect(row!.w).toBeNull();
    });

    it("a change is audited (api.update with the canonical list); a refused change is not", async () => {
      const h = await Harness.init();
      await setList(h, ["2001:DB8::/32", "203.0.113.0/24"]);
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist: ["nope"] })).status).toBe(400);
      await setList(h, null);
      const events = (await h.post("/v2/auditlogs.listLogs", { events: ["api.update"], resourceId: h.apiId })).body.data as any[];
      expect(events.map((e) => e.meta)).toEqual([
        { fields: ["ipWhitelist"], ipWhitelist: null },
        { fields: ["ipWhitelist"], ipWhitelist: ["2001:db8::/32", "203.0.113.0/24"] },
      ]);
      for (const e of events) expect(e.resources).toContainEqual({ type: "api", id: h.apiId });
    });

    it("a change reaches the next verify at once: this isolate, a cold one (KV), and keys with limits or credits", async () => {
      const h = await Harness.init();
      const plain = await h.createKey();
      const limited = await h.createKey({ ratelimits: [{ name: "requests", limit: 100, duration: 60_000, autoApply: true }] });
      const credited = await h.createKey({ credits: { remaining: 100 } });
      const all = [plain, limited, credited];
      for (const k of all) expect(await from(h, k.key, OUTSIDE)).toMatchObject({ code: "VALID" }); // warms the cache
      const before = await revisions(h.apiId);

      await setList(h, LIST);

      // Every live key of the API got a new revision in the update's batch, and KV holds its new record.
      const after = await revisions(h.apiId);
      for (const k of all) {
        expect(after[k.keyId]).toBe(before[k.keyId]! + 1);
        expect(await kvRecord(k.key)).toMatchObject({ keyId: k.keyId, ipWhitelist: LIST, revision: after[k.keyId] });
        expect(await from(h, k.key, OUTSIDE), "this isolate").toMatchObject({ code: "FORBIDDEN" });
      }
      recordCache(5000).clear();
      for (const k of all) expect(await from(h, k.key, OUTSIDE), "cold isolate").toMatchObject({ code: "FORBIDDEN" });
      // Credits were not charged by refused verifies.
      expect(await from(h, credited.key, INSIDE_V4)).toMatchObject({ code: "VALID", credits: 98 });
    });

    it("a key with state that another isolate still holds with the old record is refused through its object", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ credits: { remaining: 10 } });
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "VALID" });
      const hash = await hashKey(key);
      const cache = recordCache(5000);
      const stale = cache.get(hash, Date.now())!.value!;
      expect(stale.ipWhitelist).toBeUndefined();

      await setList(h, LIST);
      // Put the old record back, as an isolate that cached it before the change would still hold it.
      cache.set(hash, stale, Date.now());
      expect(await from(h, key, OUTSIDE)).toMatchObject({ valid: false, code: "FORBIDDEN" });
    });

    it("only the changed API's keys are republished; other APIs are unaffected", async () => {
      const h = await Harness.init();
      const otherApi = await h.createApi();
      const mine = await h.createKey();
      const other = await h.post("/v2/keys.createKey", { apiId: otherApi });
      const otherBefore = await revisions(otherApi);
      await setList(h, LIST);
      expect(await revisions(otherApi)).toEqual(otherBefore);
      expect(await from(h, other.body.data.key, OUTSIDE)).toMatchObject({ code: "VALID" });
      expect(await from(h, mine.key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
    });

    it("deleted keys are not republished, and keys created after the change carry the list", async () => {
      const h = await Harness.init();
      const gone = await h.createKey();
      await h.post("/v2/keys.deleteKey", { keyId: gone.keyId });
      const before = await revisions(h.apiId);
      await setList(h, LIST);
      expect((await revisions(h.apiId))[gone.keyId]).toBe(before[gone.keyId]);
      expect(await from(h, gone.key, INSIDE_V4)).toEqual({ valid: false, code: "NOT_FOUND" });

      const fresh = await h.createKey();
      expect(await from(h, fresh.key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
      expect(await from(h, fresh.key, INSIDE_V4)).toMatchObject({ code: "VALID" });
    });
  });

  describe("errors", () => {
    it("400 naming every invalid entry, and nothing changes", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, ["203.0.113.0/24"]);
      const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist: ["10.0.0.0/8", "10.0.0.1/8", "not-an-ip", "1.2.3.4/33"] });
      expect(res.status).toBe(400);
      expect(res.body.error.type).toBe(`${ERR}unkey/application/invalid_input`);
      const errors = res.body.error.errors as Array<{ location: string; message: string }>;
      expect(errors.map((e) => e.location)).toEqual(["body.ipWhitelist[1]", "body.ipWhitelist[2]", "body.ipWhitelist[3]"]);
      expect(errors[0]!.message).toContain("10.0.0.1/8");
      expect(errors[0]!.message).toContain("10.0.0.0/8"); // "did you mean"
      expect(errors[1]!.message).toContain("not-an-ip");
      expect(errors[2]!.message).toContain("1.2.3.4/33");
      expect(res.body.error.detail).toContain("body.ipWhitelist[1]");

      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data.ipWhitelist).toEqual(["203.0.113.0/24"]);
      expect(await from(h, key, INSIDE_V4)).toMatchObject({ code: "VALID" });
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
    });

    it("400 for the wrong types and for more than 100 entries", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        ["10.0.0.0/8", "body.ipWhitelist"],
        [[10], "body.ipWhitelist[0]"],
        [[null], "body.ipWhitelist[0]"],
        [{ 0: "10.0.0.0/8" }, "body.ipWhitelist"],
        [["10.0.0.0/8 "], "body.ipWhitelist[0]"],
        [["10.0.0.0/8,10.1.0.0/16"], "body.ipWhitelist[0]"],
        [Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`), "body.ipWhitelist"],
      ];
      for (const [ipWhitelist, location] of cases) {
        const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist });
        expect(res.status, JSON.stringify(ipWhitelist).slice(0, 80)).toBe(400);
        expect(res.body.error.errors.map((e: { location: string }) => e.location)).toContain(location);
      }
      // Exactly 100 is accepted.
      await setList(h, Array.from({ length: 100 }, (_, i) => `10.0.${i}.0/24`));
      expect((await h.post("/v2/apis.getApi", { apiId: h.apiId })).body.data.ipWhitelist).toHaveLength(100);
    });

    it("404 for a missing, deleted or foreign API, and that API's keys are untouched", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const { key } = await other.createKey();
      const foreign = await h.post("/v2/apis.updateApi", { apiId: other.apiId, ipWhitelist: ["10.0.0.0/8"] });
      const missing = await h.post("/v2/apis.updateApi", { apiId: "api_doesNotExist0000000", ipWhitelist: ["10.0.0.0/8"] });
      expect(foreign.status).toBe(404);
      expect(foreign.body.error).toEqual({ ...missing.body.error, detail: expect.any(String) });
      expect(foreign.body.error.type).toBe(`${ERR}unkey/data/api_not_found`);
      expect(await from(other, key, OUTSIDE)).toMatchObject({ code: "VALID" });
    });
  });

  describe("security", () => {
    it("fails closed: with a list, a verify without CF-Connecting-IP, or with a value that is not one address, is FORBIDDEN", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, LIST);
      expect(await verifyWith(h, key)).toMatchObject({ valid: false, code: "FORBIDDEN" });
      for (const ip of ["", "unknown", `${INSIDE_V4}, ${OUTSIDE}`, `${INSIDE_V4}:443`, `[${INSIDE_V6}]`, "203.0.113.07"]) {
        expect(await from(h, key, ip), ip).toMatchObject({ valid: false, code: "FORBIDDEN" });
      }
    });

    it("only CF-Connecting-IP counts: X-Forwarded-For and X-Real-IP cannot talk a caller in", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, LIST);
      const spoofed = { "x-forwarded-for": INSIDE_V4, "x-real-ip": INSIDE_V4, "true-client-ip": INSIDE_V4 };
      expect(await verifyWith(h, key, spoofed)).toMatchObject({ code: "FORBIDDEN" });
      expect(await verifyWith(h, key, { ...spoofed, "cf-connecting-ip": OUTSIDE })).toMatchObject({ code: "FORBIDDEN" });
      expect(await verifyWith(h, key, { "x-forwarded-for": OUTSIDE, "cf-connecting-ip": INSIDE_V4 })).toMatchObject({ code: "VALID" });
    });

    it("does not reveal keys: NOT_FOUND still comes first for a root key that may not verify, or another workspace's", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, LIST);
      const noVerify = await h.createRootKey(["api.*.read_key"]);
      expect(await verifyWith(h, key, { "cf-connecting-ip": OUTSIDE }, noVerify)).toEqual({ valid: false, code: "NOT_FOUND" });
      const stranger = await Harness.init();
      expect(await verifyWith(stranger, key, { "cf-connecting-ip": OUTSIDE })).toEqual({ valid: false, code: "NOT_FOUND" });
    });

    it("the order is Unkey's: DISABLED and EXPIRED before FORBIDDEN, FORBIDDEN before INSUFFICIENT_PERMISSIONS", async () => {
      const h = await Harness.init();
      const disabled = await h.createKey({ enabled: false });
      const expired = await h.createKey({ expires: Date.now() + 60_000 });
      const plain = await h.createKey();
      await h.post("/v2/keys.updateKey", { keyId: expired.keyId, expires: Date.now() - 1000 });
      await setList(h, LIST);
      expect(await from(h, disabled.key, OUTSIDE)).toMatchObject({ code: "DISABLED" });
      expect(await from(h, expired.key, OUTSIDE)).toMatchObject({ code: "EXPIRED" });
      const query = (ip: string) => h.post("/v2/keys.verifyKey", { key: plain.key, permissions: "documents.read" }, { headers: { "cf-connecting-ip": ip } });
      expect((await query(OUTSIDE)).body.data.code).toBe("FORBIDDEN");
      expect((await query(INSIDE_V4)).body.data.code).toBe("INSUFFICIENT_PERMISSIONS");
    });

    it("a refused verify spends no credits and no rate-limit tokens", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey({ credits: { remaining: 2 }, ratelimits: [{ name: "requests", limit: 2, duration: 60_000, autoApply: true }] });
      await setList(h, LIST);
      for (let i = 0; i < 5; i++) expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
      expect(await from(h, key, INSIDE_V4)).toMatchObject({ code: "VALID", credits: 1 });
      expect(await from(h, key, INSIDE_V4)).toMatchObject({ code: "VALID", credits: 0 });
    });

    it("changing the list needs update_api on the API: without it a 403, and nothing changes", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      const otherApi = await h.createApi();
      for (const perms of [["api.*.read_api", "api.*.verify_key"], [`api.${otherApi}.update_api`]]) {
        const rootKey = await h.createRootKey(perms);
        const res = await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist: ["10.0.0.0/8"] }, { key: rootKey });
        expect(res.status, perms.join()).toBe(403);
        expect(res.body.error.type).toBe(`${ERR}unkey/authorization/insufficient_permissions`);
      }
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "VALID" });
      const narrow = await h.createRootKey([`api.${h.apiId}.update_api`]);
      expect((await h.post("/v2/apis.updateApi", { apiId: h.apiId, ipWhitelist: ["10.0.0.0/8"] }, { key: narrow })).status).toBe(200);
      expect(await from(h, key, OUTSIDE)).toMatchObject({ code: "FORBIDDEN" });
    });

    it("an entry that is unreadable in storage matches nothing (fail closed)", async () => {
      const h = await Harness.init();
      const { key } = await h.createKey();
      await setList(h, LIST);
      // A corrupted row (never written by the API): reloaded from D1, it must not open the API up.
      await env.DB.prepare("UPDATE apis SET ip_whitelist = ? WHERE id = ?").bind("garbage", h.apiId).run();
      await env.EDGE.delete(`key:hash:${await hashKey(key)}`);
      recordCache(5000).clear();
      expect(await from(h, key, INSIDE_V4)).toMatchObject({ code: "FORBIDDEN" });
      await vi.waitFor(async () => expect(await kvRecord(key)).toMatchObject({ ipWhitelist: ["garbage"] }), { timeout: 5000, interval: 20 });
    });
  });
});
