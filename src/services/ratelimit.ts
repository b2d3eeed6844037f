/**
 * Standalone rate limiting (`ratelimit.limit`, `ratelimit.multiLimit`) and its overrides.
 *
 * Counting: one `RateLimiter` object per namespace + identifier (`namespaceLimiterName`), so every request
 * for one identifier is serialised in one place and a limit of N admits exactly N per window, however many
 * requests race. Inside the object a window is named after its duration (`"60000ms"`): like Unkey's
 * counters (keyed by namespace, identifier, duration and window), a call with a different duration, or an
 * override that changes it, counts in its own window instead of wiping the other.
 *
 * Namespaces: found by id or name within the workspace. An unknown *name* is created on first use, which
 * needs `ratelimit.*.create_namespace` and `ratelimit.*.limit` (checked before anything is written; a
 * namespace that does not exist yet cannot have been granted by id). An unknown *id* (`rlns_…`) is a 404,
 * never a new namespace called "rlns_…": that is also how another workspace's namespace looks. A deleted
 * namespace is a 404 too (Latch has no 410 code and no way to delete one yet).
 *
 * Reads: the namespaces and the overrides that can apply (exact identifiers asked for, plus every `*`
 * pattern) come from D1 in one batch per call; there is no isolate cache, so an override change is seen by
 * the next request everywhere. Override precedence is `lib/override-match.ts`.
 *
 * multiLimit is all-or-nothing across objects: the checks of one object go in one call (the object applies
 * them all-or-nothing itself); if any call refuses, the calls that passed are refunded before answering.
 * Between the consume and the refund a concurrent request may see those tokens as used (it can be refused
 * early, never admitted beyond the limit).
 *
 * Audit: a namespace created on first use is `ratelimitNamespace.create`, an override set or deleted is
 * `ratelimit.set_override` / `ratelimit.delete_override`, each in the batch of its change and guarded so
 * that it is recorded exactly when the row was written (a namespace another request created first is not
 * "created" by this one). Identifiers and names are user text and never go into events: ids only.
 *
 * Failure: this limiter is what the caller explicitly asked for, so when a RateLimiter object fails or
 * times out (DO_TIMEOUT_MS) the answer is a 503 `service_unavailable`, never a guess: "success" could let
 * an abuser through, "refused" could block a customer's users for our outage; the caller decides (the SDK
 * retries 5xx). Tokens that other objects took for the same request are given back; a call that timed out
 * is not refunded, because it may never have counted and refunding tokens never taken would admit more
 * than the limit (at worst it counts one request that got a 503). Verify's key limits fail open instead
 * (key-state-client.ts), because there a limit is a side condition of a key check.
 */
import { and, asc, eq, gte, isNull, or, sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { ratelimitNamespaces, ratelimitOverrides } from "../db/schema";
import type { AuditContext } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import type { LimiterInput, LimiterResult } from "../lib/limiter-protocol";
import { pickOverride } from "../lib/override-match";
import { grantsFor } from "../lib/root-permissions";
import type { Principal } from "../lib/verify";
import type { AuditService } from "./audit";
import { logFailure, namespaceLimiterName, type LimiterClient } from "./key-state-client";
import { requirePermission } from "./root-auth";

type Stmt = BatchItem<"sqlite">;
export type NamespaceRow = typeof ratelimitNamespaces.$inferSelect;
export type OverrideRow = typeof ratelimitOverrides.$inferSelect;

export type LimitCheck = { namespace: string; identifier: string; limit: number; duration: number; cost: number };
export type LimitResult = {
  namespace: string;
  identifier: string;
  limit: number;
  remaining: number;
  reset: number;
  passed: boolean;
  overrideId?: string;
};
export type OverrideView = { overrideId: string; duration: number; identifier: string; limit: number };

export type RatelimitServiceOptions = { db: Db; limiter: LimiterClient; audit: AuditService; now: () => number };

/** Rows per insert: 4 bound parameters each, under D1's cap of 100 per query. */
const INSERT_CHUNK = 20;

/** A check with its namespace resolved and its override applied. */
type Planned = { check: LimitCheck; object: string; window: string; limit: number; duration: number; overrideId?: string };
/** One limiter call: checks of one object, with distinct window names. */
type Call = { object: string; entries: number[] };

function looksLikeNamespaceId(namespace: string): boolean {
  return namespace.startsWith("rlns_");
}

function namespaceNotFound(namespace: string): ApiError {
  return new ApiError("RATELIMIT_NAMESPACE_NOT_FOUND", `The namespace ${JSON.stringify(namespace)} does not exist.`);
}

/** `value IN (the JSON array bound as one parameter)`: any number of values for one bound parameter. */
function inJson(column: SQLWrapper, values: readonly string[]): SQL {
  return sql`${column} in (select value from json_each(${JSON.stringify(values)}))`;
}

export class RatelimitService {
  constructor(private readonly o: RatelimitServiceOptions) {}

  /**
   * Applies `checks` all-or-nothing (one check for ratelimit.limit, up to 100 for multiLimit), creating
   * unknown namespaces by name when the root key may. Results come back in the order of `checks`.
   */
  async limit(principal: Principal, checks: readonly LimitCheck[], ctx: AuditContext): Promise<{ passed: boolean; results: LimitResult[] }> {
    const workspaceId = principal.workspaceId;
    let state = await this.load(workspaceId, checks);
    const missing = [...new Set(checks.map((c) => c.namespace))].filter((n) => !state.namespaces.has(n));
    if (missing.length > 0) {
      const byId = missing.find(looksLikeNamespaceId);
      if (byId !== undefined) throw namespaceNotFound(byId);
      requirePermission(principal, grantsFor("ratelimit", "create_namespace"));
      requirePermission(principal, grantsFor("ratelimit", "limit"));
      await this.createNamespaces(missing, ctx);
      state = await this.load(workspaceId, checks);
      const gone = missing.find((n) => !state.namespaces.has(n));
      if (gone !== undefined) throw namespaceNotFound(gone); // a deleted namespace keeps its name
    }
    for (const ns of new Set(state.namespaces.values())) requirePermission(principal, grantsFor("ratelimit", "limit", ns.id));

    const plans = checks.map((check): Planned => {
      const ns = state.namespaces.get(check.namespace)!;
      const override = pickOverride(check.identifier, state.overrides.get(ns.id) ?? []);
      const limit = override?.limit ?? check.limit;
      const duration = override?.duration ?? check.duration;
      const object = namespaceLimiterName(workspaceId, ns.id, check.identifier);
      return { check, object, window: `${duration}ms`, limit, duration, ...(override ? { overrideId: override.id } : {}) };
    });
    return this.apply(plans);
  }

  /**
   * Runs the planned checks. Calls to different objects run in parallel; a second check of the same
   * object and window (a duplicate in multiLimit) goes in a later round, so it counts after the first.
   */
  private async apply(plans: Planned[]): Promise<{ passed: boolean; results: LimitResult[] }> {
    const now = this.o.now();
    const input = (call: Call): LimiterInput => ({
      requests: call.entries.map((i) => {
        const p = plans[i]!;
        return { name: p.window, limit: p.limit, duration: p.duration, cost: p.check.cost };
      }),
      now,
    });
    const answers = new Array<LimiterResult["results"][number]>(plans.length);
    const consumedBefore = new Array<number>(plans.length).fill(0);
    const consumed = new Map<string, number>();
    const admitted: Call[] = [];
    let passed = true;
    for (const round of planRounds(plans)) {
      const settled = await Promise.allSettled(round.map((call) => this.o.limiter.limit(call.object, input(call))));
      const failure = settled.find((s) => s.status === "rejected");
      settled.forEach((s, k) => {
        if (s.status === "rejected") return;
        const call = round[k]!;
        if (s.value.passed) admitted.push(call);
        else passed = false;
        call.entries.forEach((i, j) => {
          answers[i] = s.value.results[j]!;
          const key = `${call.object}\n${plans[i]!.window}`;
          if (s.value.passed) consumed.set(key, (consumed.get(key) ?? 0) + plans[i]!.check.cost);
          consumedBefore[i] = consumed.get(key) ?? 0;
        });
      });
      if (failure) {
        await this.refund(admitted, input);
        logFailure("rate limiter failed; answering 503", { objects: round.map((c) => c.object) }, failure.reason);
        throw new ApiError("SERVICE_UNAVAILABLE", "The rate limiter could not be reached, so no decision was made. Retry the request.");
      }
    }
    if (!passed) await this.refund(admitted, input);
    const results = plans.map((p, i): LimitResult => {
      const a = answers[i]!;
      // Refused as a whole: nothing stays consumed, so report what is left without this request's tokens.
      const remaining = passed ? a.remaining : Math.min(p.limit, a.remaining + consumedBefore[i]!);
      const { namespace, identifier } = p.check;
      const r: LimitResult = { namespace, identifier, limit: p.limit, remaining, reset: a.reset, passed: a.passed };
      if (p.overrideId) r.overrideId = p.overrideId;
      return r;
    });
    return { passed, results };
  }

  private async refund(calls: Call[], input: (call: Call) => LimiterInput): Promise<void> {
    await Promise.all(calls.map((call) => this.o.limiter.refund(call.object, input(call))));
  }

  /**
   * One batch: the live namespaces named (by id or name) in `checks`, and their overrides that can apply
   * (the exact identifiers asked for, plus every `*` pattern). Keys of `namespaces` are the strings asked
   * for; an id match wins over a name match.
   */
  private async load(
    workspaceId: string,
    checks: readonly LimitCheck[],
  ): Promise<{ namespaces: Map<string, NamespaceRow>; overrides: Map<string, OverrideRow[]> }> {
    const names = [...new Set(checks.map((c) => c.namespace))];
    const identifiers = [...new Set(checks.map((c) => c.identifier))];
    const ns = ratelimitNamespaces;
    const live = and(eq(ns.workspaceId, workspaceId), isNull(ns.deletedAt), or(inJson(ns.id, names), inJson(ns.name, names)));
    const ov = ratelimitOverrides;
    const [rows, overrides] = await this.o.db.batch([
      this.o.db.select().from(ns).where(live),
      this.o.db
        .select()
        .from(ov)
        .where(
          and(
            eq(ov.workspaceId, workspaceId),
            sql`${ov.namespaceId} in (select ${ns.id} from ${ns} where ${live})`,
            or(inJson(ov.identifier, identifiers), sql`instr(${ov.identifier}, '*') > 0`),
          ),
        ),
    ]);
    const namespaces = new Map<string, NamespaceRow>();
    for (const name of names) {
      const row = rows.find((r) => r.id === name) ?? rows.find((r) => r.name === name);
      if (row) namespaces.set(name, row);
    }
    const byNamespace = new Map<string, OverrideRow[]>();
    for (const o of overrides) byNamespace.set(o.namespaceId, [...(byNamespace.get(o.namespaceId) ?? []), o]);
    return { namespaces, overrides: byNamespace };
  }

  /**
   * Inserts the namespaces; one created concurrently by another request wins (the unique index decides),
   * and only the rows this batch really inserted are recorded as created.
   */
  private async createNamespaces(names: readonly string[], ctx: AuditContext): Promise<void> {
    const now = this.o.now();
    const ns = ratelimitNamespaces;
    const rows = names.map((name) => ({ id: newId("rlns", now), workspaceId: ctx.workspaceId, name, createdAt: now }));
    const stmts: Stmt[] = [];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) stmts.push(this.o.db.insert(ns).values(rows.slice(i, i + INSERT_CHUNK)).onConflictDoNothing());
    const entries = rows.map((r) => ({ event: "ratelimitNamespace.create" as const, resources: [{ type: "ratelimitNamespace" as const, id: r.id }], args: [r.id] }));
    stmts.push(...this.o.audit.stage(ctx, entries, ([id]) => sql`EXISTS (SELECT 1 FROM ${ns} WHERE ${ns.id} = ${id})`));
    await this.o.db.batch(stmts as [Stmt, ...Stmt[]]);
  }

  /** The live namespace with this id or name in the workspace, or a 404 (also for another workspace's). */
  async findNamespace(workspaceId: string, namespace: string): Promise<NamespaceRow> {
    const ns = ratelimitNamespaces;
    const rows = await this.o.db
      .select()
      .from(ns)
      .where(and(eq(ns.workspaceId, workspaceId), isNull(ns.deletedAt), or(eq(ns.id, namespace), eq(ns.name, namespace))));
    const row = rows.find((r) => r.id === namespace) ?? rows[0];
    if (!row) throw namespaceNotFound(namespace);
    return row;
  }

  /**
   * Creates or replaces the override for `identifier` (a literal or a `*` pattern); keeps its id on update.
   * The override's id goes into the event, so it is settled first: the stored one is updated by id, or a
   * new one inserted unless one appeared meanwhile; each write carries its event, guarded to fire only if
   * that very row was written. A write that lost a race (nothing written, nothing recorded) is retried.
   */
  async setOverride(ns: NamespaceRow, input: { identifier: string; limit: number; duration: number }, ctx: AuditContext): Promise<{ overrideId: string }> {
    const { db } = this.o;
    const ov = ratelimitOverrides;
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.o.now();
      const existing = await this.findOverride(ns, input.identifier);
      const id = existing?.id ?? newId("rlor", now);
      const meta = { limit: input.limit, duration: input.duration };
      const [event] = this.o.audit.stage(
        ctx,
        [{ event: "ratelimit.set_override", resources: [{ type: "ratelimitNamespace", id: ns.id }, { type: "ratelimitOverride", id }], meta, args: [id] }],
        ([rowId]) => sql`EXISTS (SELECT 1 FROM ${ov} WHERE ${ov.id} = ${rowId} AND ${ov.limit} = ${input.limit} AND ${ov.duration} = ${input.duration})`,
      );
      const write = existing
        ? db.update(ov).set({ limit: input.limit, duration: input.duration, updatedAt: now }).where(and(eq(ov.id, id), eq(ov.workspaceId, ns.workspaceId))).returning({ id: ov.id })
        : db.insert(ov).values({ id, workspaceId: ns.workspaceId, namespaceId: ns.id, ...input, createdAt: now }).onConflictDoNothing().returning({ id: ov.id });
      const [written] = await db.batch([write, event!]);
      if (written.length > 0) return { overrideId: id };
    }
    throw new ApiError("SERVICE_UNAVAILABLE", "The override kept changing under concurrent requests. Retry the request.");
  }

  private async findOverride(ns: NamespaceRow, identifier: string): Promise<OverrideRow | undefined> {
    const ov = ratelimitOverrides;
    const [row] = await this.o.db
      .select()
      .from(ov)
      .where(and(eq(ov.workspaceId, ns.workspaceId), eq(ov.namespaceId, ns.id), eq(ov.identifier, identifier)))
      .limit(1);
    return row;
  }

  /** The override stored for exactly this identifier (a pattern is looked up as written, not matched). */
  async getOverride(ns: NamespaceRow, identifier: string): Promise<OverrideView> {
    const row = await this.findOverride(ns, identifier);
    if (!row) throw overrideNotFound(identifier);
    return toOverrideView(row);
  }

  /** One page of the namespace's overrides, by id ascending (= creation order). */
  async listOverrides(
    ns: NamespaceRow,
    opts: { limit: number; cursor?: string | undefined },
  ): Promise<{ overrides: OverrideView[]; cursor?: string }> {
    const ov = ratelimitOverrides;
    const rows = await this.o.db
      .select()
      .from(ov)
      .where(
        and(
          eq(ov.workspaceId, ns.workspaceId),
          eq(ov.namespaceId, ns.id),
          opts.cursor !== undefined ? gte(ov.id, opts.cursor) : undefined,
        ),
      )
      .orderBy(asc(ov.id))
      .limit(opts.limit + 1);
    const next = rows.length > opts.limit ? rows.pop() : undefined;
    const overrides = rows.map(toOverrideView);
    return next ? { overrides, cursor: next.id } : { overrides };
  }

  /** Deletes the override stored for exactly this identifier; 404 if there is none (or it went meanwhile). */
  async deleteOverride(ns: NamespaceRow, identifier: string, ctx: AuditContext): Promise<void> {
    const ov = ratelimitOverrides;
    const row = await this.findOverride(ns, identifier);
    if (!row) throw overrideNotFound(identifier);
    const resources = [{ type: "ratelimitNamespace" as const, id: ns.id }, { type: "ratelimitOverride" as const, id: row.id }];
    const [event] = this.o.audit.stage(ctx, [{ event: "ratelimit.delete_override", resources, args: [row.id] }], ([id]) => sql`EXISTS (SELECT 1 FROM ${ov} WHERE ${ov.id} = ${id})`);
    const [, deleted] = await this.o.db.batch([event!, this.o.db.delete(ov).where(and(eq(ov.id, row.id), eq(ov.workspaceId, ns.workspaceId))).returning({ id: ov.id })]);
    if (deleted.length === 0) throw overrideNotFound(identifier);
  }
}

function overrideNotFound(identifier: string): ApiError {
  const detail = `There is no override for the identifier ${JSON.stringify(identifier)} in this namespace.`;
  return new ApiError("RATELIMIT_OVERRIDE_NOT_FOUND", detail);
}

function toOverrideView(row: OverrideRow): OverrideView {
  return { overrideId: row.id, duration: row.duration, identifier: row.identifier, limit: row.limit };
}

/**
 * Groups checks into limiter calls: round r holds, per object, the r-th check of each of its windows, so a
 * call never names a window twice (the object decides a call's checks against the same starting state).
 */
function planRounds(plans: readonly Planned[]): Call[][] {
  const seen = new Map<string, number>();
  const rounds: Array<Map<string, Call>> = [];
  plans.forEach((p, i) => {
    const key = `${p.object}\n${p.window}`;
    const r = seen.get(key) ?? 0;
    seen.set(key, r + 1);
    const round = (rounds[r] ??= new Map());
    const call = round.get(p.object) ?? { object: p.object, entries: [] };
    call.entries.push(i);
    round.set(p.object, call);
  });
  return rounds.map((round) => [...round.values()]);
}
