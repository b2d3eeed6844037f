import { DurableObject } from "cloudflare:workers";
import {
  AppendInputSchema,
  AUDIT_SCHEMA_SQL,
  chainEvents,
  ChainVerifier,
  fromRow,
  GENESIS_HASH,
  ListFilterSchema,
  listQuery,
  ROW_COLUMNS,
  toPage,
  toRow,
  type AuditEvent,
  type AuditEventContent,
  type AuditPage,
  type AuditRow,
  type ChainVerdict,
} from "../lib/audit";

/** Rows read per query while verifying, so a long log is streamed rather than loaded at once. */
const VERIFY_PAGE = 500;

/**
 * One workspace's audit log (`idFromName("audit:<workspaceId>")`): append-only, hash-chained events in
 * the object's SQLite table `audit_events` (schema and decisions in src/lib/audit.ts). Appends are
 * serialised, because hashing awaits WebCrypto and two appends must never chain from the same head.
 */
export class AuditLog extends DurableObject<Env> {
  private head = GENESIS_HASH;
  private workspaceId: string | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      for (const statement of AUDIT_SCHEMA_SQL) ctx.storage.sql.exec(statement);
      const last = this.rows(`SELECT ${ROW_COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT 1`)[0];
      if (last) {
        this.head = last.hash;
        this.workspaceId = fromRow(last)?.workspaceId;
      }
    });
  }

  /**
   * Appends the events in order, atomically, after the current head, and returns them as stored. A batch
   * whose ids are all stored already (a retry after a lost reply) returns the stored events unchanged.
   */
  async append(input: unknown): Promise<AuditEvent[]> {
    const events = AppendInputSchema.parse(input);
    return this.serially(async () => {
      const stored = this.storedRows(events.map((e) => e.id));
      if (stored.length === events.length) return stored.map(fromRow).filter((e): e is AuditEvent => e !== undefined);
      if (stored.length > 0) throw new Error("some of these audit event ids are stored already");
      return this.insert(events);
    });
  }

  /**
   * The outbox relay's append (src/services/audit.ts): events whose ids are stored already are skipped,
   * the rest appended in order. Two relays of the same outbox rows racing each other (or a retry after a
   * lost reply) thus store every event once, in the order of the outbox. Returns how many were new.
   */
  async appendMissing(input: unknown): Promise<number> {
    const events = AppendInputSchema.parse(input);
    return this.serially(async () => {
      const stored = new Set(this.storedRows(events.map((e) => e.id)).map((r) => r.id));
      const fresh = events.filter((e) => !stored.has(e.id));
      if (fresh.length > 0) await this.insert(fresh);
      return fresh.length;
    });
  }

  private storedRows(ids: string[]): AuditRow[] {
    return this.rows(`SELECT ${ROW_COLUMNS} FROM audit_events WHERE id IN (${ids.map(() => "?").join(", ")}) ORDER BY seq`, ...ids);
  }

  /** Chains `events` after the head and stores them in one storage transaction. Call only inside `serially`. */
  private async insert(events: AuditEventContent[]): Promise<AuditEvent[]> {
    const workspaceId = events[0]!.workspaceId;
    if (this.workspaceId !== undefined && this.workspaceId !== workspaceId) throw new Error("events of another workspace");
    const chained = await chainEvents(this.head, events);
    this.ctx.storage.transactionSync(() => {
      for (const e of chained) {
        const r = toRow(e);
        this.ctx.storage.sql.exec(
          `INSERT INTO audit_events (id, time, event, actor_id, resource_ids, json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          r.id, r.time, r.event, r.actor_id, r.resource_ids, r.json, r.prev_hash, r.hash,
        );
      }
    });
    this.head = chained.at(-1)!.hash;
    this.workspaceId = workspaceId;
    return chained;
  }

  /** Newest first, filtered; `cursor` is the `seq` the previous page ended at. */
  async list(input: unknown): Promise<AuditPage> {
    const filter = ListFilterSchema.parse(input);
    const { sql, params } = listQuery(filter);
    return toPage(this.rows(sql, ...params), filter.limit);
  }

  /** Walks the whole chain, oldest first, and reports the first event that does not fit. */
  async verifyChain(): Promise<ChainVerdict> {
    const verifier = new ChainVerifier();
    for (let after = 0; ; ) {
      const rows = this.rows(`SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, VERIFY_PAGE);
      for (const row of rows) await verifier.push(row.id, fromRow(row));
      if (rows.length < VERIFY_PAGE) return verifier.result();
      after = rows.at(-1)!.seq;
    }
  }

  private rows(sql: string, ...params: (string | number)[]): AuditRow[] {
    return this.ctx.storage.sql.exec<AuditRow>(sql, ...params).toArray();
  }

  /** Runs `fn` after every earlier call has finished (whether it succeeded or not). */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
