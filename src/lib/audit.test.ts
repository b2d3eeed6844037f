import { describe, expect, it } from "vitest";
import {
  AppendInputSchema,
  AuditEventInputSchema,
  buildEvents,
  canonicalJson,
  chainEvents,
  fromRow,
  GENESIS_HASH,
  hashEvent,
  listQuery,
  looksLikeKey,
  MAX_EVENT_BYTES,
  redactSecrets,
  toPage,
  toRow,
  verifyChain,
  type AuditContext,
  type AuditEvent,
  type AuditEventContent,
  type AuditRow,
} from "./audit";
import { newId } from "./ids";
import { generateKey } from "./keys";

const T = 1_750_000_000_000;
const CTX: AuditContext = {
  workspaceId: "ws_0AbCdEfGhIjKlMnOpQrS",
  actor: { type: "rootkey", id: "key_0RootKey0000000000" },
  remoteIp: "203.0.113.9",
  userAgent: "@unkey/api 2.5.0",
  requestId: "req_0Request00000000000",
};

function contents(n: number): AuditEventContent[] {
  const entries = Array.from({ length: n }, (_, i) => ({
    event: "key.create" as const,
    resources: [
      { type: "api" as const, id: "api_0Api00000000000000" },
      { type: "key" as const, id: `key_0Key${String(i).padStart(13, "0")}` },
    ],
    meta: { n: i },
  }));
  return buildEvents(CTX, entries, T, "cor_0Correlation0000000");
}

async function chain(n: number): Promise<AuditEvent[]> {
  return chainEvents(GENESIS_HASH, contents(n));
}

async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("canonicalJson", () => {
  it("sorts keys at every level, drops undefined members, and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: null }], c: "s" }, u: undefined })).toBe(
      '{"a":{"c":"s","d":[3,{"x":null,"z":1}]},"b":1}',
    );
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
    expect(canonicalJson({ é: 1, e: 2, Z: 3, "\u{1F600}": 4, "\uFFFF": 5 })).toBe('{"Z":3,"e":2,"é":1,"\u{1F600}":4,"\uFFFF":5}');
  });

  it("gives the same text whatever order the fields were built in", () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it("refuses values that are not JSON", () => {
    for (const v of [NaN, Infinity, () => 1, Symbol("s"), 1n, { a: NaN }]) expect(() => canonicalJson(v), String(v)).toThrow(TypeError);
  });
});

describe("chain", () => {
  it("hashes hex(SHA-256(prevHash + canonical content)), starting from the genesis hash", async () => {
    const [first, second] = await chain(2);
    const { prevHash: _p, hash: _h, ...content } = first!;
    expect(first!.prevHash).toBe(GENESIS_HASH);
    expect(first!.hash).toBe(await sha256Hex(GENESIS_HASH + canonicalJson(content)));
    expect(first!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(second!.prevHash).toBe(first!.hash);
    expect(second!.hash).toBe(await hashEvent(first!.hash, second!));
  });

  it("ignores extra fields and field order when hashing", async () => {
    const [e] = contents(1);
    const reordered = Object.fromEntries(Object.entries(e!).reverse()) as AuditEventContent;
    expect(await hashEvent(GENESIS_HASH, reordered)).toBe(await hashEvent(GENESIS_HASH, e!));
    expect(await hashEvent(GENESIS_HASH, { ...e!, extra: "x" } as AuditEventContent)).toBe(await hashEvent(GENESIS_HASH, e!));
  });

  it("an intact chain is valid, with its count and last hash", async () => {
    const events = await chain(5);
    expect(await verifyChain(events)).toEqual({ valid: true, count: 5, lastHash: events[4]!.hash });
    expect(await verifyChain([])).toEqual({ valid: true, count: 0 });
  });

  it("reports a change to any single field at the changed event", async () => {
    const tampers: Array<(e: AuditEvent) => AuditEvent> = [
      (e) => ({ ...e, event: "key.delete" }),
      (e) => ({ ...e, time: e.time + 1 }),
      (e) => ({ ...e, actor: { ...e.actor, id: "key_0SomeoneElse0000000" } }),
      (e) => ({ ...e, resources: [...e.resources].reverse() }),
      (e) => ({ ...e, remoteIp: "198.51.100.1" }),
      (e) => ({ ...e, userAgent: undefined }),
      (e) => ({ ...e, meta: { n: 99 } }),
      (e) => ({ ...e, workspaceId: "ws_0Other0000000000000" }),
      (e) => ({ ...e, hash: e.hash.replace(/^./, (c) => (c === "0" ? "1" : "0")) }),
      (e) => ({ ...e, prevHash: GENESIS_HASH.replace(/^0/, "1") }),
    ];
    for (const [i, tamper] of tampers.entries()) {
      const events = await chain(5);
      events[2] = tamper(events[2]!);
      expect(await verifyChain(events), `tamper ${i}`).toEqual({ valid: false, count: 5, firstBrokenEventId: events[2]!.id });
    }
  });

  it("reports a swap at the first event out of place, and a deletion at the event after the gap", async () => {
    const events = await chain(5);
    const swapped = [events[0]!, events[2]!, events[1]!, events[3]!, events[4]!];
    expect(await verifyChain(swapped)).toMatchObject({ valid: false, firstBrokenEventId: events[2]!.id });
    const deleted = events.filter((_, i) => i !== 1);
    expect(await verifyChain(deleted)).toEqual({ valid: false, count: 4, firstBrokenEventId: events[2]!.id });
    expect(await verifyChain(events.slice(1))).toMatchObject({ valid: false, firstBrokenEventId: events[1]!.id });
  });

  it("an event rehashed after a change still breaks the link to the next one", async () => {
    const events = await chain(3);
    const changed = { ...events[1]!, event: "key.delete" as const };
    changed.hash = await hashEvent(changed.prevHash, changed);
    expect(await verifyChain([events[0]!, changed, events[2]!])).toMatchObject({ valid: false, firstBrokenEventId: events[2]!.id });
  });
});

describe("buildEvents", () => {
  it("gives each event a log_ id, one correlation id, and the request's context", () => {
    const events = buildEvents(
      { ...CTX, remoteIp: "::ffff:203.0.113.9" },
      [
        { event: "key.create", resources: [{ type: "key", id: "key_1" }] },
        { event: "identity.create", resources: [{ type: "identity", id: "id_1" }], meta: { externalId: "user_1" } },
      ],
      T,
      "cor_0Correlation0000000",
    );
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    for (const e of events) {
      expect(e.id).toMatch(/^log_[0-9A-Za-z]{20}$/);
      expect(e).toMatchObject({ time: T, workspaceId: CTX.workspaceId, actor: CTX.actor, remoteIp: "203.0.113.9", requestId: CTX.requestId, correlationId: "cor_0Correlation0000000" });
      expect(AuditEventInputSchema.safeParse(e).success).toBe(true);
    }
    expect(events[1]!.meta).toEqual({ externalId: "user_1" });
  });

  it("drops an address that is not one, and redacts keys from the User-Agent", async () => {
    const { key } = await generateKey({ prefix: "sk", byteLength: 16 });
    const [e] = buildEvents({ ...CTX, remoteIp: "1.2.3.4, 5.6.7.8", userAgent: `curl/8 ${key}` }, [{ event: "api.create", resources: [] }], T, "cor_1");
    expect(e!.remoteIp).toBeUndefined();
    expect(e!.userAgent).toBe("curl/8 sk_[redacted]");
    expect(AuditEventInputSchema.safeParse(e).success).toBe(true);
    const [none] = buildEvents({ ...CTX, remoteIp: null, userAgent: null }, [{ event: "api.create", resources: [] }], T, "cor_1");
    expect(none).not.toHaveProperty("remoteIp", expect.anything());
    expect(canonicalJson(none)).not.toContain("remoteIp");
  });
});

describe("validation", () => {
  it("refuses anything that looks like a key, wherever it is", async () => {
    const keys = await Promise.all([
      generateKey({ prefix: "sk", byteLength: 16 }),
      generateKey({ prefix: "latch_root", byteLength: 32 }),
      generateKey({ byteLength: 16 }),
    ]);
    const [base] = contents(1);
    for (const { key } of keys) {
      const bad: unknown[] = [
        { ...base, meta: { key } },
        { ...base, meta: { nested: [{ deep: `prefix ${key} suffix` }] } },
        { ...base, meta: { [key]: true } },
        { ...base, userAgent: key },
      ];
      for (const event of bad) {
        const r = AuditEventInputSchema.safeParse(event);
        expect(r.success, JSON.stringify(event)).toBe(false);
        expect(r.error?.issues[0]?.message).toMatch(/API key/);
      }
    }
  });

  it("tells keys from ids, digests and words", async () => {
    for (let i = 0; i < 200; i++) {
      const { key } = await generateKey({ prefix: "sk", byteLength: 16 });
      expect(looksLikeKey(key), key).toBe(true);
      for (const prefix of ["key", "log", "api", "ws", "req", "cor"] as const) expect(looksLikeKey(newId(prefix))).toBe(false);
    }
    expect(looksLikeKey(await sha256Hex("x"))).toBe(false);
    expect(looksLikeKey("https://github.com/acme/widgets/blob/5d41402abc4b2a76b9719d911017c592/config.yml")).toBe(false);
    expect(looksLikeKey("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")).toBe(false);
    expect(redactSecrets("a".repeat(1000))).toHaveLength(512);
  });

  it("refuses malformed events", () => {
    const [base] = contents(1);
    const bad: Array<[string, unknown]> = [
      ["unknown event", { ...base, event: "key.explode" }],
      ["unknown resource type", { ...base, resources: [{ type: "planet", id: "p_1" }] }],
      ["id with a space", { ...base, resources: [{ type: "key", id: "key 1" }] }],
      ["bad id", { ...base, id: "evt_1" }],
      ["bad actor type", { ...base, actor: { type: "user", id: "u_1" } }],
      ["bad ip", { ...base, remoteIp: "localhost" }],
      ["extra field", { ...base, secret: "x" }],
      ["non-JSON meta", { ...base, meta: { at: new Date(0) } }],
      ["NaN meta", { ...base, meta: { n: NaN } }],
      ["deep meta", { ...base, meta: JSON.parse(`${'{"a":'.repeat(12)}1${"}".repeat(12)}`) }],
      ["huge meta", { ...base, meta: { s: "x ".repeat(MAX_EVENT_BYTES) } }],
      ["negative time", { ...base, time: -1 }],
    ];
    for (const [what, event] of bad) expect(AuditEventInputSchema.safeParse(event).success, what).toBe(false);
  });

  it("appends 1..100 events of one workspace with distinct ids", () => {
    const events = contents(3);
    expect(AppendInputSchema.safeParse(events).success).toBe(true);
    expect(AppendInputSchema.safeParse([]).success).toBe(false);
    expect(AppendInputSchema.safeParse(contents(101)).success).toBe(false);
    expect(AppendInputSchema.safeParse([events[0], { ...events[1]!, workspaceId: "ws_other" }]).success).toBe(false);
    expect(AppendInputSchema.safeParse([events[0], events[0]]).success).toBe(false);
  });
});

describe("rows", () => {
  it("round-trips an event through its row", async () => {
    const [e] = await chain(1);
    const row: AuditRow = { seq: 1, ...toRow(e!) };
    expect(row.resource_ids).toBe(" api_0Api00000000000000 key_0Key0000000000000 ");
    expect(row.actor_id).toBe(CTX.actor.id);
    expect(fromRow(row)).toEqual(JSON.parse(JSON.stringify(e)));
  });

  it("refuses a row whose JSON or filter columns were edited", async () => {
    const [e] = await chain(1);
    const row: AuditRow = { seq: 1, ...toRow(e!) };
    for (const edit of [
      { json: "{" },
      { json: row.json.replace("key.create", "key.explode") },
      { json: ` ${row.json}` },
      { event: "key.delete" },
      { actor_id: "key_0Other" },
      { resource_ids: " api_0Api00000000000000 " },
      { id: "log_other" },
      { time: T + 1 },
    ]) {
      expect(fromRow({ ...row, ...edit }), JSON.stringify(edit)).toBeUndefined();
    }
  });

  it("builds a parameterised page query from the filter", () => {
    expect(listQuery({ limit: 10 })).toEqual({
      sql: "SELECT seq, id, time, event, actor_id, resource_ids, json, prev_hash, hash FROM audit_events ORDER BY seq DESC LIMIT ?",
      params: [11],
    });
    const q = listQuery({ limit: 5, cursor: 40, events: ["key.create", "key.delete"], actorId: "key_1", resourceId: "api_1", since: 1, until: 2 });
    expect(q.sql).toContain("WHERE seq < ? AND event IN (?, ?) AND actor_id = ? AND instr(resource_ids, ?) > 0 AND time >= ? AND time <= ?");
    expect(q.params).toEqual([40, "key.create", "key.delete", "key_1", " api_1 ", 1, 2, 6]);
  });

  it("pages: a cursor only when more rows follow, unreadable rows left out", async () => {
    const rows = (await chain(3)).map((e, i) => ({ seq: 3 - i, ...toRow(e) }));
    expect(toPage(rows, 2)).toEqual({ events: [fromRow(rows[0]!), fromRow(rows[1]!)], cursor: "2" });
    expect(toPage(rows, 3).cursor).toBeUndefined();
    expect(toPage([{ ...rows[0]!, json: "x" }, rows[1]!], 5).events).toHaveLength(1);
  });
});
