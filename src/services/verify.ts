/**
 * keys.verifyKey: hash → record (isolate cache, KV, D1) → pure decision → for keys with limits or credits,
 * the identity's limiter (identity-level limits) and one call to the key's Durable Object (revision,
 * key-level limits, credits). Outcomes are data (HTTP 200 with `valid` and `code`).
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { keys } from "../db/schema";
import { ApiError } from "../lib/errors";
import { hashKey } from "../lib/hash";
import { parsePermissionQuery, type PermissionQuery } from "../lib/permission-query";
import { planLimits, type PlannedLimit, type RequestedLimit } from "../lib/limits-plan";
import { needsKeyState, type VerificationRecord } from "../lib/record";
import type { LimitOutcome, NamedLimitRequest } from "../lib/ratelimit";
import { decideVerification, type Principal } from "../lib/verify";
import { shouldTouchLastUsed } from "./cache";
import { ioCounters } from "./metrics";
import type { EdgeRecords } from "./edge-records";
import { identityLimiterName, logFailure, type KeyStateClient, type LimiterClient } from "./key-state-client";
import { toVerifyView, type VerifyView } from "./key-views";

/** How many times a verify reloads a record its key's object calls stale before giving up with a 503. */
const MAX_STALE_RETRIES = 3;

export type VerifyRequest = {
  key: string;
  /** A permission query (`a AND (b OR c)`) the key must satisfy. */
  permissions?: string | undefined;
  credits?: { cost: number } | undefined;
  ratelimits?: RequestedLimit[] | undefined;
  /** The caller's address (`CF-Connecting-IP`), checked against the API's allow-list; absent = unknown. */
  callerIp?: string | null | undefined;
};

export type VerifyServiceOptions = {
  db: Db;
  edge: EdgeRecords;
  keyState: KeyStateClient;
  limiter: LimiterClient;
  now: () => number;
  waitUntil: (p: Promise<unknown>) => void;
};

type StateOutcome =
  | { kind: "decided"; code: "VALID" | "RATE_LIMITED" | "USAGE_EXCEEDED"; limits: VerifyView["ratelimits"]; remaining?: number }
  | { kind: "stale" };

export class VerifyService {
  constructor(private readonly o: VerifyServiceOptions) {}

  async verify(principal: Principal, req: VerifyRequest): Promise<VerifyView> {
    const required = req.permissions === undefined ? undefined : parseQuery(req.permissions);
    const hash = await hashKey(req.key);
    let record = await this.o.edge.lookup(hash);
    // A stale record is reloaded from D1 and decided again. Only the key's object may admit a key with
    // limits or credits, so if the key keeps changing under us, the answer is a 503 to retry, never VALID.
    for (let attempt = 0; ; attempt++) {
      const decision = decideVerification(record, principal, this.o.now(), required, req.callerIp);
      if (!decision.valid || !record) return toVerifyView(record, decision);
      if (!needsKeyState(record) && !req.ratelimits?.length) return this.valid(record);
      const outcome = await this.applyState(record, limitsFor(record, req.ratelimits), req.credits?.cost ?? 1);
      if (outcome.kind === "stale") {
        if (attempt + 1 >= MAX_STALE_RETRIES) {
          throw new ApiError("SERVICE_UNAVAILABLE", "The key changed repeatedly while it was being verified. Retry the request.");
        }
        // Reload and cache the truth; the KV copy is the writer's job (it already published it).
        record = await this.o.edge.loadFromD1(hash);
        continue;
      }
      const view = toVerifyView(record, outcome.code === "VALID" ? { valid: true } : { valid: false, code: outcome.code });
      if (outcome.limits) view.ratelimits = outcome.limits;
      if (outcome.remaining !== undefined) view.credits = outcome.remaining;
      if (outcome.code === "VALID") this.touch(record);
      return view;
    }
  }

  /**
   * Identity limits first (consumed in the identity's object), then the key's object (revision, key
   * limits, credits). If the key's object refuses, the identity's tokens are given back, so the request
   * as a whole is all-or-nothing and no limit ever admits more than its count.
   */
  private async applyState(record: VerificationRecord, limits: SplitLimits, cost: number): Promise<StateOutcome> {
    const now = this.o.now();
    const key = { workspaceId: record.workspaceId, keyId: record.keyId };
    let identityLimits = limits.identity;
    const keyLimits = limits.key;
    const objectName = record.identity ? identityLimiterName(record.workspaceId, record.identity.id) : "";
    const identityInput = { requests: identityLimits.map(toRequest), now };

    let identityResults: LimitOutcome[] = [];
    if (identityLimits.length > 0) {
      try {
        const result = await this.o.limiter.limit(objectName, identityInput);
        identityResults = result.results;
        if (!result.passed) {
          // The refusal came from limits in this record: if the record is stale (the identity's limits may
          // have been raised or removed), decide again from D1 instead of refusing on old settings.
          if (await this.o.keyState.isStale(key, record.revision)) return { kind: "stale" };
          return { kind: "decided", code: "RATE_LIMITED", limits: present(identityLimits, identityResults) };
        }
      } catch (err) {
        logFailure("identity rate limiter failed; admitting without identity limits", { keyId: record.keyId }, err);
        identityLimits = [];
      }
    }
    const refundIdentity = () =>
      identityLimits.length > 0 ? this.o.limiter.refund(objectName, identityInput) : Promise.resolve();

    const credits = record.credits;
    let outcome;
    try {
      outcome = await this.o.keyState.verify(key, {
        revision: record.revision,
        limits: limits.keyRequests,
        ...(credits ? { credits: { initial: credits, cost } } : {}),
        now,
      });
    } catch (err) {
      if (credits) {
        // Refused: the identity's tokens go back. (On the fail-open path below the request is admitted,
        // so the identity's tokens it consumed stay consumed.)
        await refundIdentity();
        logFailure("key state unavailable; refusing a key with credits", { keyId: record.keyId }, err);
        throw new ApiError("SERVICE_UNAVAILABLE", "The key's usage state is unavailable, so its credits cannot be charged. Retry the request.");
      }
      logFailure("key state unavailable; admitting without key limits", { keyId: record.keyId }, err);
      return { kind: "decided", code: "VALID", limits: present(identityLimits, identityResults) };
    }
    if (outcome.kind === "stale" || outcome.code !== "VALID") await refundIdentity();
    if (outcome.kind === "stale") return { kind: "stale" };
    return {
      kind: "decided",
      code: outcome.code,
      limits: [...present(identityLimits, identityResults), ...present(keyLimits, outcome.limits)],
      ...(outcome.remaining !== undefined ? { remaining: outcome.remaining } : {}),
    };
  }

  private valid(record: VerificationRecord): VerifyView {
    this.touch(record);
    return toVerifyView(record, { valid: true });
  }

  /** Debounced background write of `lastUsedAt`; never on the response path. */
  private touch(record: VerificationRecord): void {
    const now = this.o.now();
    if (!shouldTouchLastUsed(record.keyId, now)) return;
    ioCounters.d1BackgroundWrites++;
    this.o.waitUntil(
      this.o.db
        .update(keys)
        .set({ lastUsedAt: now })
        .where(and(eq(keys.id, record.keyId), eq(keys.workspaceId, record.workspaceId)))
        .run()
        .catch((err: unknown) => logFailure("lastUsedAt write failed", { keyId: record.keyId }, err)),
    );
  }
}

/** A verify's limits, split by the object that counts them, with the key's already in wire form. */
type SplitLimits = { identity: readonly PlannedLimit[]; key: readonly PlannedLimit[]; keyRequests: NamedLimitRequest[] };

/** The autoApply limits of cached records, planned once per record (records are immutable once cached). */
const autoApplied = new WeakMap<VerificationRecord, SplitLimits>();

/** The limits one verify applies; a name the request gives that exists nowhere is a 412. */
function limitsFor(record: VerificationRecord, requested: RequestedLimit[] | undefined): SplitLimits {
  if (!requested?.length) {
    const cached = autoApplied.get(record);
    if (cached) return cached;
  }
  const plan = planLimits(record, requested);
  if (!plan.ok) {
    throw new ApiError("PRECONDITION_FAILED", `The ratelimit "${plan.missing}" does not exist on this key or its identity.`);
  }
  const key = plan.limits.filter((l) => l.target === "key");
  const split = { identity: plan.limits.filter((l) => l.target === "identity"), key, keyRequests: key.map(toRequest) };
  if (!requested?.length) autoApplied.set(record, split);
  return split;
}

/** A syntax error in the query is the caller's mistake: a 400 that says where. */
function parseQuery(text: string): PermissionQuery {
  const parsed = parsePermissionQuery(text);
  if (!parsed.ok) {
    throw new ApiError("PERMISSIONS_QUERY_SYNTAX_ERROR", `The permissions query is invalid: ${parsed.error.message}.`, [
      { location: "body.permissions", message: parsed.error.message },
    ]);
  }
  return parsed.query;
}

/**
 * A limit's window is named by limit and duration: a verify that overrides a limit's duration counts in its
 * own window instead of resetting the shared one (which would let the limit admit more than its count).
 */
function windowName(l: Pick<PlannedLimit, "name" | "duration">): string {
  return `${l.name}:${l.duration}`;
}

function toRequest(l: PlannedLimit): NamedLimitRequest {
  return { name: windowName(l), limit: l.limit, duration: l.duration, cost: l.cost };
}

/** The response's `ratelimits[]` entries for the planned limits that were checked. */
function present(planned: readonly PlannedLimit[], outcomes: LimitOutcome[]): NonNullable<VerifyView["ratelimits"]> {
  return planned.flatMap((p) => {
    const o = outcomes.find((x) => x.name === windowName(p));
    if (!o) return [];
    return [{ exceeded: !o.passed, id: p.id, name: p.name, limit: o.limit, duration: p.duration, reset: o.reset, remaining: o.remaining, autoApply: p.autoApply }];
  });
}
