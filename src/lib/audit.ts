/**
 * The audit log's decisions: what an event is, how it is chained, how a stored chain is checked, and how
 * events map to the `AuditLog` Durable Object's rows. Pure (WebCrypto and zod only), so it runs in Node.
 *
 * Chain: `hash = hex(SHA-256(utf8(prevHash + canonicalJson(content))))`, where `content` is the event
 * without `prevHash`/`hash` and the first event's `prevHash` is `GENESIS_HASH`. Changing, reordering or
 * removing a stored event breaks the chain at (or, for a removal, right after) that event. Removing the
 * newest events leaves a shorter valid chain: compare `count`/`lastHash` with a copy kept elsewhere.
 *
 * Events carry ids, never secrets. `findSecretLike` is defence in depth against a caller that passes a
 * plaintext key by mistake: an event with anything that looks like one is refused, by the Worker before it
 * sends it and by the object before it stores it.
 */
import { z } from "zod";
import { normalizeIp, parseIp } from "./cidr";
import { newId } from "./ids";

export const GENESIS_HASH = "0".repeat(64);

/**
 * Unkey's event names (reference §8) plus Latch's own (`rootKey.*`, `key.decrypt`, `api.update` settings,
 * `vault.rewrap`: a workspace's data key re-wrapped under another KEK, recorded in that workspace's log).
 */
export const AUDIT_EVENTS = [
  "workspace.update",
  "api.create",
  "api.update",
  "api.delete",
  "key.create",
  "key.update",
  "key.delete",
  "key.reroll",
  "key.decrypt",
  "ratelimitNamespace.create",
  "ratelimitNamespace.update",
  "ratelimitNamespace.delete",
  "ratelimit.create",
  "ratelimit.update",
  "ratelimit.delete",
  "ratelimit.set_override",
  "ratelimit.delete_override",
  "role.create",
  "role.update",
  "role.delete",
  "permission.create",
  "permission.update",
  "permission.delete",
  "authorization.connect_role_and_permission",
  "authorization.disconnect_role_and_permissions",
  "authorization.connect_role_and_key",
  "authorization.disconnect_role_and_key",
  "authorization.connect_permission_and_key",
  "authorization.disconnect_permission_and_key",
  "identity.create",
  "identity.update",
  "identity.delete",
  "rootKey.create",
  "rootKey.delete",
  "vault.rewrap",
] as const;

export const AUDIT_RESOURCE_TYPES = [
  "workspace",
  "api",
  "keySpace",
  "key",
  "rootKey",
  "identity",
  "permission",
  "role",
  "ratelimit",
  "ratelimitNamespace",
  "ratelimitOverride",
] as const;

export type AuditEventName = (typeof AUDIT_EVENTS)[number];
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];
export type AuditActor = { type: "rootkey" | "system"; id: string };
export type AuditResource = { type: AuditResourceType; id: string };

/** Most events one `append` may carry, and most resources one event may name. */
export const MAX_APPEND = 100;
export const MAX_RESOURCES = 50;
/** Largest canonical event (content), so a runaway `meta` cannot bloat the log. */
export const MAX_EVENT_BYTES = 8192;
const MAX_META_DEPTH = 8;
export const MAX_USER_AGENT = 512;

/** A resource id, actor id or request id: our ids and Unkey's slugs; never whitespace (see `resource_ids`). */
const Ident = z.string().regex(/^[a-zA-Z0-9_.:*-]{1,255}$/, "must be 1 to 255 of [a-zA-Z0-9_.:*-]");

export const AuditEventContentSchema = z.strictObject({
  id: z.string().regex(/^log_[a-zA-Z0-9]{1,64}$/),
  time: z.number().int().min(0),
  event: z.enum(AUDIT_EVENTS),
  workspaceId: Ident,
  actor: z.strictObject({ type: z.enum(["rootkey", "system"]), id: Ident }),
  resources: z.array(z.strictObject({ type: z.enum(AUDIT_RESOURCE_TYPES), id: Ident })).max(MAX_RESOURCES),
  remoteIp: z.string().refine((ip) => parseIp(ip) !== null, "must be an IP address").optional(),
  userAgent: z.string().max(MAX_USER_AGENT).optional(),
  requestId: Ident,
  correlationId: z.string().regex(/^cor_[a-zA-Z0-9]{1,64}$/),
  meta: z.record(z.string(), z.unknown()).optional(),
});

export type AuditEventContent = z.infer<typeof AuditEventContentSchema>;
export type AuditEvent = AuditEventContent & { prevHash: string; hash: string };

/** A content that is also plain JSON, small enough, and free of anything that looks like a key. */
export const AuditEventInputSchema = AuditEventContentSchema.superRefine((event, ctx) => {
  const problem = jsonProblem(event.meta ?? {}, ["meta"]) ?? findSecretLike(event);
  if (problem) return void ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
  if (new TextEncoder().encode(canonicalJson(contentOf(event))).length > MAX_EVENT_BYTES) {
    ctx.addIssue({ code: "custom", path: ["meta"], message: `the event is larger than ${MAX_EVENT_BYTES} bytes` });
  }
});

/** `AuditLog.append`'s input: 1..MAX_APPEND events of one workspace, appended in this order. */
export const AppendInputSchema = z
  .array(AuditEventInputSchema)
  .min(1)
  .max(MAX_APPEND)
  .superRefine((events, ctx) => {
    if (new Set(events.map((e) => e.workspaceId)).size > 1) ctx.addIssue({ code: "custom", message: "events of several workspaces" });
    if (new Set(events.map((e) => e.id)).size !== events.length) ctx.addIssue({ code: "custom", message: "duplicate event ids" });
  });

type Problem = { path: PropertyKey[]; message: string };

/** The first value that is not plain JSON (or nests too deep), or undefined. */
function jsonProblem(value: unknown, path: PropertyKey[], depth = 0): Problem | undefined {
  if (depth > MAX_META_DEPTH) return { path, message: `may nest at most ${MAX_META_DEPTH} levels deep` };
  if (value === null || typeof value === "string" || typeof value === "boolean") return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : { path, message: "must be a finite number" };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = jsonProblem(value[i], [...path, i], depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      const p = v === undefined ? undefined : jsonProblem(v, [...path, k], depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  return { path, message: "must be plain JSON" };
}

const BASE58_RUN = /[1-9A-HJ-NP-Za-km-z]{21,}/g;

/**
 * True if `text` contains what could be a Latch or Unkey key: a run of at least 21 base58 characters
 * (16 random bytes, the shortest key, encode to 21 or 22) that is not just hex digits. Our ids carry 20
 * characters after the prefix, a git or SHA-256 digest is hex, and words break on 0, O, I and l.
 */
export function looksLikeKey(text: string): boolean {
  for (const [run] of text.matchAll(BASE58_RUN)) if (/[^1-9a-f]/.test(run)) return true;
  return false;
}

/** The first string (value or object key) anywhere in `value` that looks like a key, or undefined. */
export function findSecretLike(value: unknown, path: PropertyKey[] = []): Problem | undefined {
  if (typeof value === "string") return looksLikeKey(value) ? { path, message: "looks like an API key: audit events carry ids, never secrets" } : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (looksLikeKey(k)) return { path: [...path, k], message: "a field name looks like an API key" };
    const p = findSecretLike(v, [...path, Array.isArray(value) ? Number(k) : k]);
    if (p) return p;
  }
  return undefined;
}

/** Replaces anything that looks like a key in free text (a User-Agent) and caps its length. */
export function redactSecrets(text: string, max = MAX_USER_AGENT): string {
  return text.replace(BASE58_RUN, (run) => (looksLikeKey(run) ? "[redacted]" : run)).slice(0, max);
}

/**
 * JSON with object keys sorted (by UTF-16 code units, as RFC 8785) and undefined members dropped, so the
 * same event always hashes the same, whatever order its fields were built in. Throws on non-JSON values
 * (the schemas refuse those before anything is hashed).
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("not JSON: a non-finite number");
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`not JSON: ${typeof value}`);
  }
}

/** The hashed part of an event: exactly the content fields, whatever else the object carries. */
export function contentOf(e: AuditEventContent): AuditEventContent {
  const { id, time, event, workspaceId, actor, resources, remoteIp, userAgent, requestId, correlationId, meta } = e;
  return { id, time, event, workspaceId, actor, resources, remoteIp, userAgent, requestId, correlationId, meta };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hashEvent(prevHash: string, content: AuditEventContent): Promise<string> {
  return sha256Hex(prevHash + canonicalJson(contentOf(content)));
}

/** Links `contents` after `prevHash`, in order. */
export async function chainEvents(prevHash: string, contents: readonly AuditEventContent[]): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let prev = prevHash;
  for (const c of contents) {
    const hash = await hashEvent(prev, c);
    out.push({ ...contentOf(c), prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

export type ChainVerdict = { valid: boolean; count: number; firstBrokenEventId?: string; lastHash?: string };

/**
 * Checks a chain event by event, oldest first, so a long log can be streamed through it. After the first
 * break it only counts. `push(id, undefined)` records an event that could not be read (see `fromRow`).
 */
export class ChainVerifier {
  private prev = GENESIS_HASH;
  private count = 0;
  private broken: string | undefined;

  async push(id: string, event: AuditEvent | undefined): Promise<void> {
    this.count++;
    if (this.broken !== undefined) return;
    if (!event || event.prevHash !== this.prev || (await hashEvent(this.prev, event)) !== event.hash) {
      this.broken = id;
      return;
    }
    this.prev = event.hash;
  }

  result(): ChainVerdict {
    if (this.broken !== undefined) return { valid: false, count: this.count, firstBrokenEventId: this.broken };
    return this.count > 0 ? { valid: true, count: this.count, lastHash: this.prev } : { valid: true, count: 0 };
  }
}

/** Verifies a whole chain, oldest event first. */
export async function verifyChain(events: Iterable<AuditEvent>): Promise<ChainVerdict> {
  const v = new ChainVerifier();
  for (const e of events) await v.push(e.id, e);
  return v.result();
}

export type AuditContext = {
  workspaceId: string;
  actor: AuditActor;
  /** The caller's address (`CF-Connecting-IP`); kept only if it is an IP address. */
  remoteIp?: string | null;
  userAgent?: string | null;
  requestId: string;
  /**
   * Context every event of the request carries in its `meta` (e.g. a leak report's `{reason, url, source}`).
   * Strings are redacted like the user agent: they may come from outside.
   */
  meta?: Record<string, string>;
};

export type AuditEntry = { event: AuditEventName; resources: AuditResource[]; meta?: Record<string, unknown> };

/** The events of one request: fresh `log_` ids, one shared correlation id, the caller's IP normalised. */
export function buildEvents(ctx: AuditContext, entries: readonly AuditEntry[], now: number, correlationId: string): AuditEventContent[] {
  const remoteIp = normalizeIp(ctx.remoteIp);
  const userAgent = ctx.userAgent ? redactSecrets(ctx.userAgent) : undefined;
  const shared = ctx.meta ? Object.fromEntries(Object.entries(ctx.meta).map(([k, v]) => [k, redactSecrets(v)])) : undefined;
  return entries.map((e) => ({
    id: newId("log", now),
    time: now,
    event: e.event,
    workspaceId: ctx.workspaceId,
    actor: { type: ctx.actor.type, id: ctx.actor.id },
    resources: e.resources.map((r) => ({ type: r.type, id: r.id })),
    remoteIp,
    userAgent,
    requestId: ctx.requestId,
    correlationId,
    meta: shared ? { ...shared, ...e.meta } : e.meta,
  }));
}

// ---- Storage rows of the AuditLog object --------------------------------------------------------------

/** One row of `audit_events`: the event's JSON (content only) plus the columns that filters and the chain use. */
export type AuditRow = {
  seq: number;
  id: string;
  time: number;
  event: string;
  actor_id: string;
  /** " id1 id2 " (ids never hold spaces), so `instr(resource_ids, ' ' || ? || ' ')` finds one. */
  resource_ids: string;
  json: string;
  prev_hash: string;
  hash: string;
};

export const AUDIT_SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS audit_events (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, time INTEGER NOT NULL, event TEXT NOT NULL,
    actor_id TEXT NOT NULL, resource_ids TEXT NOT NULL, json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor_id, seq)",
  "CREATE INDEX IF NOT EXISTS audit_events_event ON audit_events (event, seq)",
  "CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)",
];

export const ROW_COLUMNS = "seq, id, time, event, actor_id, resource_ids, json, prev_hash, hash";

export function toRow(e: AuditEvent): Omit<AuditRow, "seq"> {
  return {
    id: e.id,
    time: e.time,
    event: e.event,
    actor_id: e.actor.id,
    resource_ids: ` ${e.resources.map((r) => r.id).join(" ")} `,
    json: canonicalJson(contentOf(e)),
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}

/**
 * The event a row holds, or undefined if its JSON does not parse as an event or a filter column disagrees
 * with it (an edit of a column alone would otherwise change what filters find without breaking the chain).
 */
export function fromRow(row: AuditRow): AuditEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(row.json);
  } catch {
    return undefined;
  }
  const content = AuditEventContentSchema.safeParse(parsed);
  if (!content.success) return undefined;
  const event: AuditEvent = { ...content.data, prevHash: row.prev_hash, hash: row.hash };
  const expected = toRow(event);
  const same = (Object.keys(expected) as (keyof typeof expected)[]).every((k) => expected[k] === row[k]);
  return same ? event : undefined;
}

export const ListFilterSchema = z.strictObject({
  limit: z.number().int().min(1).max(100),
  /** The `seq` of the last event of the previous page. */
  cursor: z.number().int().min(1).optional(),
  events: z.array(z.enum(AUDIT_EVENTS)).min(1).max(AUDIT_EVENTS.length).optional(),
  actorId: Ident.optional(),
  resourceId: Ident.optional(),
  since: z.number().int().min(0).optional(),
  until: z.number().int().min(0).optional(),
});

export type ListFilter = z.infer<typeof ListFilterSchema>;
export type AuditPage = { events: AuditEvent[]; cursor?: string };

/** The page query, newest first; it asks for one row more than `limit` to learn whether more follow. */
export function listQuery(f: ListFilter): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, ...values: (string | number)[]) => {
    where.push(clause);
    params.push(...values);
  };
  if (f.cursor !== undefined) add("seq < ?", f.cursor);
  if (f.events) add(`event IN (${f.events.map(() => "?").join(", ")})`, ...f.events);
  if (f.actorId !== undefined) add("actor_id = ?", f.actorId);
  if (f.resourceId !== undefined) add("instr(resource_ids, ?) > 0", ` ${f.resourceId} `);
  if (f.since !== undefined) add("time >= ?", f.since);
  if (f.until !== undefined) add("time <= ?", f.until);
  const clause = where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "";
  return { sql: `SELECT ${ROW_COLUMNS} FROM audit_events${clause} ORDER BY seq DESC LIMIT ?`, params: [...params, f.limit + 1] };
}

/** Turns the rows of `listQuery` into a page; unreadable rows are left out (verifyChain reports them). */
export function toPage(rows: readonly AuditRow[], limit: number): AuditPage {
  const page = rows.slice(0, limit);
  const events = page.map(fromRow).filter((e): e is AuditEvent => e !== undefined);
  const last = page.at(-1);
  return rows.length > limit && last ? { events, cursor: String(last.seq) } : { events };
}
