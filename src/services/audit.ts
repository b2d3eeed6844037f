/**
 * The Worker's side of the audit log: one `AuditLog` object per workspace (`idFromName("audit:<ws>")`).
 *
 * Failure policy: fail closed. `record` throws `AuditWriteError` (a 503 if nobody catches it) when the
 * events cannot be stored, so a mutation that awaits it before it commits can refuse to go ahead: no change
 * without its record (issue 6). Every call is bounded by a timeout; an append that failed or timed out is
 * retried once with the same event ids, which the object stores at most once, so a retry after a lost reply
 * cannot log an event twice.
 */
import {
  AppendInputSchema,
  buildEvents,
  type AuditContext,
  type AuditEntry,
  type AuditEvent,
  type AuditPage,
  type ChainVerdict,
  type ListFilter,
} from "../lib/audit";
import { ApiError } from "../lib/errors";
import { newId } from "../lib/ids";
import { logFailure, withTimeout } from "./key-state-client";

export const AUDIT_TIMEOUT_MS = 3_000;
/** Verifying walks the whole log, so it gets longer. */
export const AUDIT_VERIFY_TIMEOUT_MS = 25_000;

export type { AuditContext, AuditEntry } from "../lib/audit";

export interface AuditClient {
  /**
   * Appends `entries` to the workspace's log as one request's events (one correlation id per client, and
   * the client lives for one request). Resolves with the stored events; throws `AuditWriteError` otherwise.
   */
  record(ctx: AuditContext, entries: readonly AuditEntry[]): Promise<AuditEvent[]>;
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

export class DurableAuditClient implements AuditClient {
  private correlationId: string | undefined;

  constructor(
    private readonly ns: Env["AUDIT_LOG"],
    private readonly now: () => number,
  ) {}

  private stub(workspaceId: string) {
    return this.ns.get(this.ns.idFromName(auditLogName(workspaceId)));
  }

  async record(ctx: AuditContext, entries: readonly AuditEntry[]): Promise<AuditEvent[]> {
    if (entries.length === 0) return [];
    const now = this.now();
    this.correlationId ??= newId("cor", now);
    // Checked here as well as in the object, so a bad event (a secret, say) fails before any I/O.
    const parsed = AppendInputSchema.safeParse(buildEvents(ctx, entries, now, this.correlationId));
    if (!parsed.success) throw new AuditWriteError(parsed.error);
    let lastError: unknown;
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        return (await withTimeout(this.stub(ctx.workspaceId).append(parsed.data), AUDIT_TIMEOUT_MS, "audit append")) as AuditEvent[];
      } catch (err) {
        lastError = err;
        logFailure("audit append failed", { workspaceId: ctx.workspaceId, requestId: ctx.requestId, attempt }, err);
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
