/**
 * The Worker's side of the audit log: one `AuditLog` object per workspace (`idFromName("audit:<ws>")`),
 * fed through an outbox table in D1 so that no change commits without its record (issue 6).
 *
 * HOW TO RECORD A MUTATION (every service that changes state does this; see keys.ts for examples)
 *
 *   // 1. The route builds the request's context once and passes it down as a plain object:
 *   //      const ctx = auditContext(c, principal);          // src/routes/route.ts
 *   //    A system caller builds its own: { workspaceId, actor: { type: "system", id: "github_secret_scanning" }, requestId }.
 *   // 2. The service stages the events BEFORE writing anything (a bad event throws AuditWriteError here,
 *   //    a 503, before any I/O) and puts the returned INSERTs into the SAME db.batch as the change:
 *   const outbox = this.o.audit.stage(ctx, [{ event: "api.update", resources: [{ type: "api", id: api.id }], meta: { fields: ["deleteProtection"] } }]);
 *   await db.batch([...changes, ...outbox]);
 *   // 3. Nothing else: after the handler, the services middleware relays every workspace staged during
 *   //    the request (`audit.flush()`), before the response leaves. `audit.relay(workspaceId)` does one
 *   //    workspace explicitly. A relay failure is logged and does not fail the request: the rows are
 *   //    durable in D1 and the next relay (the next mutation, or any auditlogs.* read) moves them.
 *
 * Rules: meta carries field names, ids, enums, counts and booleans, never user-supplied text (a name that
 * looks like a key would make the event, and so the mutation, fail) and never values of secrets. One
 * request = one `AuditService` = one correlation id shared by all its events. Guarded events
 * (`stage(ctx, entries, when)`) are inserted only for the rows where `when` holds *at that point of the
 * batch*: put them before or after the change so that they fire exactly when the change does (e.g.
 * `identity.create` after an `INSERT … ON CONFLICT DO NOTHING`, guarded by "the new id exists").
 *
 * State that is not in D1 (a key's credits in its KeyState object, a decrypted plaintext) cannot share a
 * batch with the outbox: those callers `await audit.record(ctx, entries)` BEFORE the change or the reveal;
 * it appends to the object at once and throws `AuditWriteError` (503) if it cannot, so the change is not made.
 *
 * Failure policy of the object calls: every call is bounded by a timeout; a failed or timed-out append is
 * retried once with the same event ids, which the object stores at most once.
 */
import { and, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/client";
import { auditOutbox } from "../db/schema";
import {
  AppendInputSchema,
  AuditEventInputSchema,
  buildEvents,
  canonicalJson,
  contentOf,
  MAX_APPEND,
  type AuditContext,
  type AuditEntry,
  type AuditEvent,
  type AuditEventContent,
  type AuditPage,
  type ChainVerdict,
  type ListFilter,
} from "../lib/audit";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import { logFailure, stubByName, withTimeout } from "./key-state-client";

export const AUDIT_TIMEOUT_MS = 3_000;
/** Verifying walks the whole log, so it gets longer. */
export const AUDIT_VERIFY_TIMEOUT_MS = 25_000;
/** Events per outbox INSERT: they travel as one JSON parameter, so only the statement's size bounds this. */
const OUTBOX_CHUNK = 50;
/** Outbox rows moved per object call, and pages per relay (the rest waits for the next relay). */
const RELAY_PAGE = MAX_APPEND;
const RELAY_PAGES = 5;
/** Outbox ids per DELETE, under D1's 100 bound parameters. */
const DELETE_CHUNK = 90;

export type { AuditContext, AuditEntry } from "../lib/audit";

/** An event to stage; `args` are the per-event values a guard can read (see `AuditService.stage`). */
export type StagedEntry = AuditEntry & { args?: string[] };
/** A condition on each staged row, given that row's `args` as SQL expressions. */
export type AuditGuard = (args: SQL[]) => SQL;

/** The transport to the workspace's `AuditLog` object. Tests replace it (`createApp({ audit })`) to make it fail. */
export interface AuditClient {
  /**
   * Appends `entries` to the workspace's log as one request's events (one correlation id per client).
   * Resolves with the stored events; throws `AuditWriteError` otherwise.
   */
  record(ctx: AuditContext, entries: readonly AuditEntry[]): Promise<AuditEvent[]>;
  /** Appends events built elsewhere (all new, one workspace); throws `AuditWriteError` if they are not stored. */
  append(events: readonly AuditEventContent[]): Promise<AuditEvent[]>;
  /** The relay's append: events already stored are skipped. Throws `AuditWriteError` on failure. */
  appendMissing(events: readonly AuditEventContent[]): Promise<number>;
  /** One page, newest first. Throws (503) if the log cannot be read. */
  list(workspaceId: string, filter: ListFilter): Promise<AuditPage>;
  /** Checks the whole chain. Throws (503) if the log cannot be read. */
  verifyChain(workspaceId: string): Promise<ChainVerdict>;
}

/** The audit log could not be written: whatever needed the record must not take effect. */
export class AuditWriteError extends ApiError {
  constructor(cause: unknown) {
    super("SERVICE_UNAVAILABLE", "The audit log could not be written, so the request was not carried out. Retry it.");
    this.cause = cause;
  }
}

export function auditLogName(workspaceId: string): string {
  return `audit:${workspaceId}`;
}

/** Builds and checks one request's events: fresh ids, the shared correlation id; throws `AuditWriteError`. */
function checkedEvents(ctx: AuditContext, entries: readonly AuditEntry[], now: number, correlationId: string): AuditEventContent[] {
  const events = buildEvents(ctx, entries, now, correlationId);
  for (let i = 0; i < events.length; i += MAX_APPEND) {
    // Checked here as well as in the object, so a bad event (a secret, say) fails before any I/O.
    const parsed = AppendInputSchema.safeParse(events.slice(i, i + MAX_APPEND));
    if (!parsed.success) throw new AuditWriteError(parsed.error);
  }
  return events;
}

export class DurableAuditClient implements AuditClient {
  private correlationId: string | undefined;

  constructor(
    private readonly ns: Env["AUDIT_LOG"],
    private readonly now: () => number,
  ) {}

  private stub(workspaceId: string) {
    return stubByName(this.ns, auditLogName(workspaceId));
  }

  async record(ctx: AuditContext, entries: readonly AuditEntry[]): Promise<AuditEvent[]> {
    if (entries.length === 0) return [];
    const now = this.now();
    this.correlationId ??= newId("cor", now);
    return this.append(checkedEvents(ctx, entries, now, this.correlationId));
  }

  async append(events: readonly AuditEventContent[]): Promise<AuditEvent[]> {
    if (events.length === 0) return [];
    return this.send(events, "audit append", (stub, input) => stub.append(input) as Promise<AuditEvent[]>);
  }

  async appendMissing(events: readonly AuditEventContent[]): Promise<number> {
    if (events.length === 0) return 0;
    return this.send(events, "audit relay", (stub, input) => stub.appendMissing(input) as Promise<number>);
  }

  private async send<T>(events: readonly AuditEventContent[], what: string, call: (stub: ReturnType<DurableAuditClient["stub"]>, input: unknown) => Promise<T>): Promise<T> {
    const workspaceId = events[0]!.workspaceId;
    let lastError: unknown;
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        return await withTimeout(call(this.stub(workspaceId), events), AUDIT_TIMEOUT_MS, what);
      } catch (err) {
        lastError = err;
        logFailure(`${what} failed`, { workspaceId, requestId: events[0]!.requestId, attempt }, err);
      }
    }
    throw new AuditWriteError(lastError);
  }

  async list(workspaceId: string, filter: ListFilter): Promise<AuditPage> {
    return this.read(workspaceId, "audit list", AUDIT_TIMEOUT_MS, (s) => s.list(filter) as Promise<AuditPage>);
  }

  async verifyChain(workspaceId: string): Promise<ChainVerdict> {
    return this.read(workspaceId, "audit verify", AUDIT_VERIFY_TIMEOUT_MS, (s) => s.verifyChain() as Promise<ChainVerdict>);
  }

  private async read<T>(workspaceId: string, what: string, ms: number, call: (stub: ReturnType<DurableAuditClient["stub"]>) => Promise<T>): Promise<T> {
    try {
      return await withTimeout(call(this.stub(workspaceId)), ms, what);
    } catch (err) {
      logFailure(`${what} failed`, { workspaceId }, err);
      throw new ApiError("SERVICE_UNAVAILABLE", "The audit log is unavailable right now. Retry the request.");
    }
  }
}

/** `INSERT INTO audit_outbox SELECT … FROM json_each(<rows>)`, optionally guarded per row. */
function outboxInsert(db: Db, workspaceId: string, now: number, rows: string[][], when?: AuditGuard) {
  const item = (i: number) => sql.raw(`json_extract(j.value, '$[${i}]')`);
  const guard = when?.([0, 1, 2, 3].map((i) => item(i + 2)));
  return db.insert(auditOutbox).select(
    db
      .select({
        id: sql<string>`${item(0)}`.as("id"),
        workspaceId: sql<string>`${workspaceId}`.as("workspace_id"),
        createdAt: sql<number>`${now}`.as("created_at"),
        json: sql<string>`${item(1)}`.as("json"),
      })
      .from(sql`json_each(${JSON.stringify(rows)}) AS j`)
      .where(guard)
      .orderBy(sql`j.key`),
  );
}

/** A statement `AuditService.stage` returns, for the caller's batch (`.toSQL()` gives raw SQL for `D1Database.batch`). */
export type OutboxStatement = ReturnType<typeof outboxInsert>;

export type AuditServiceOptions = { db: Db; client: AuditClient; now: () => number };

/**
 * One request's audit trail (`services.audit`): stages outbox rows for the request's batches, relays them
 * after the commit, records directly what D1 does not hold, and reads the log (relaying first, so a reader
 * never misses an event that committed).
 */
export class AuditService {
  private correlationId: string | undefined;
  private readonly staged = new Set<string>();

  constructor(private readonly o: AuditServiceOptions) {}

  /** The request's correlation id, shared by all its events. */
  private correlation(): string {
    return (this.correlationId ??= newId("cor", this.o.now()));
  }

  /**
   * The outbox INSERTs recording `entries`, for the caller's `db.batch` (after, or before, the change
   * they record). Built and checked now: a bad event throws `AuditWriteError` before anything is written.
   * With `when`, a row is inserted only if `when(args)` holds for that entry's `args` at that point of the
   * batch (entries without `args` get none). Events go 50 to a statement as one JSON parameter, so D1's cap
   * of 100 bound parameters never applies.
   */
  stage(ctx: AuditContext, entries: readonly StagedEntry[], when?: AuditGuard): OutboxStatement[] {
    if (entries.length === 0) return [];
    const now = this.o.now();
    const events = checkedEvents(ctx, entries, now, this.correlation());
    this.staged.add(ctx.workspaceId);
    const rows = events.map((e, i) => [e.id, canonicalJson(contentOf(e)), ...(entries[i]!.args ?? [])]);
    const out: OutboxStatement[] = [];
    for (let i = 0; i < rows.length; i += OUTBOX_CHUNK) out.push(outboxInsert(this.o.db, ctx.workspaceId, now, rows.slice(i, i + OUTBOX_CHUNK), when));
    return out;
  }

  /**
   * Appends `entries` to the object now, for changes D1 does not hold: call it BEFORE making the change
   * (or handing out the plaintext). Throws `AuditWriteError` (503) if the events are not stored.
   */
  async record(ctx: AuditContext, entries: readonly AuditEntry[]): Promise<AuditEvent[]> {
    if (entries.length === 0) return [];
    const events = checkedEvents(ctx, entries, this.o.now(), this.correlation());
    const stored: AuditEvent[] = [];
    for (let i = 0; i < events.length; i += MAX_APPEND) stored.push(...(await this.o.client.append(events.slice(i, i + MAX_APPEND))));
    return stored;
  }

  /**
   * Moves the workspace's pending outbox rows, oldest first, to its object and deletes them. Never throws:
   * returns false (and logs) if rows could not be moved; they stay in D1 for the next relay. A row whose
   * JSON is not an event (nothing here writes one) is logged and left in place.
   */
  async relay(workspaceId: string): Promise<boolean> {
    const { db } = this.o;
    try {
      for (let page = 0; page < RELAY_PAGES; page++) {
        const rows = await db
          .select({ id: auditOutbox.id, json: auditOutbox.json })
          .from(auditOutbox)
          .where(eq(auditOutbox.workspaceId, workspaceId))
          .orderBy(sql`rowid`)
          .limit(RELAY_PAGE);
        const events = rows.map((r) => parseOutboxRow(r.id, r.json)).filter((e): e is AuditEventContent => e !== undefined);
        if (events.length > 0) await this.o.client.appendMissing(events);
        const ids = events.map((e) => e.id);
        for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
          await db.delete(auditOutbox).where(and(eq(auditOutbox.workspaceId, workspaceId), inArray(auditOutbox.id, ids.slice(i, i + DELETE_CHUNK))));
        }
        if (rows.length < RELAY_PAGE || events.length === 0) return true;
      }
      return true;
    } catch (err) {
      logFailure("audit relay failed; the events wait in the outbox", { workspaceId }, err instanceof AuditWriteError ? err.cause : err);
      return false;
    }
  }

  /** Relays every workspace this request staged events for (the services middleware calls it after the handler). */
  async flush(): Promise<void> {
    const workspaces = [...this.staged];
    this.staged.clear();
    for (const workspaceId of workspaces) await this.relay(workspaceId);
  }

  /** One page, newest first, after relaying pending rows; a 503 if they cannot be relayed or the log read. */
  async list(workspaceId: string, filter: ListFilter): Promise<AuditPage> {
    await this.relayForReader(workspaceId);
    return this.o.client.list(workspaceId, filter);
  }

  /** Checks the whole chain, after relaying pending rows. */
  async verifyChain(workspaceId: string): Promise<ChainVerdict> {
    await this.relayForReader(workspaceId);
    return this.o.client.verifyChain(workspaceId);
  }

  private async relayForReader(workspaceId: string): Promise<void> {
    if (await this.relay(workspaceId)) return;
    throw new ApiError("SERVICE_UNAVAILABLE", "The audit log is unavailable right now (events are waiting to be stored). Retry the request.");
  }
}

function parseOutboxRow(id: string, json: string): AuditEventContent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  const content = AuditEventInputSchema.safeParse(parsed);
  if (content.success && content.data.id === id) return content.data;
  logFailure("audit outbox row is not an event; left in place", { id }, content.success ? "id mismatch" : content.error.message);
  return undefined;
}
