/**
 * Worker-side clients of the Durable Objects that hold per-key and per-identity state.
 *
 * Failure policy (docs/architecture.md, "When a Durable Object fails"):
 * - Every call is bounded by `DO_TIMEOUT_MS`; a timeout counts as a failure.
 * - Credits fail closed: a verify of a key with credits whose object cannot answer is a 503, never VALID,
 *   because admitting it could spend money the customer does not have.
 * - Rate limits alone fail open: the verify proceeds without them (and says so in the log), because limits
 *   protect capacity, and refusing every request of a customer while an object is unreachable would turn
 *   a platform hiccup into their outage. Unkey's limiter makes the same choice.
 * - The revision check alone (and a mutation's bump) fail open: the record used is at most one revocation
 *   bound old.
 */
import { encodeKeyVerifyInput, type CreditChange } from "../lib/key-state-protocol";
import type { KeyVerifyInput, KeyVerifyAnswer } from "../lib/key-verify";
import type { LimiterInput, LimiterResult } from "../lib/limiter-protocol";
import type { RevisionCheck } from "../lib/revision";
import type { CreditState } from "../lib/usage";
import { ioCounters } from "./metrics";

export const DO_TIMEOUT_MS = 3_000;

export type KeyIdent = { workspaceId: string; keyId: string };

export interface KeyStateClient {
  /** True if the object knows a newer revision than `revision` (the caller's record is stale). */
  isStale(key: KeyIdent, revision: number): Promise<boolean>;
  /** Tells the object about a committed mutation (failures are logged, not thrown). */
  bump(key: KeyIdent, revision: number): Promise<void>;
  /** One verify's revision check, limits and credits, in one call. Throws on failure or timeout. */
  verify(key: KeyIdent, input: KeyVerifyInput): Promise<KeyVerifyAnswer>;
  /** Changes the balance; throws on failure. */
  changeCredits(change: CreditChange): Promise<CreditState | null>;
  /** The true balance now; throws on failure. */
  readCredits(key: KeyIdent, initial: CreditState | null, now: number): Promise<CreditState | null>;
}

export interface LimiterClient {
  /** Consumes from one identity's or identifier's windows, all-or-nothing. Throws on failure or timeout. */
  limit(objectName: string, input: LimiterInput): Promise<LimiterResult>;
  /** Gives tokens back after a later check refused the request (failures are logged, not thrown). */
  refund(objectName: string, input: LimiterInput): Promise<void>;
}

export function keyStateId(key: KeyIdent): string {
  return `${key.workspaceId}:${key.keyId}`;
}

export function identityLimiterName(workspaceId: string, identityId: string): string {
  return `identity:${workspaceId}:${identityId}`;
}

export function namespaceLimiterName(workspaceId: string, namespaceId: string, identifier: string): string {
  return `ratelimit:${workspaceId}:${namespaceId}:${identifier}`;
}

/** Rejects after `ms`, so a hung object cannot hold a verify hostage. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function logFailure(msg: string, fields: Record<string, unknown>, err: unknown): void {
  console.error(JSON.stringify({ level: "error", msg, ...fields, error: String(err) }));
}

/**
 * Object ids by name, per namespace. `idFromName` hashes the name on every call; an id, unlike a stub,
 * may be reused by any request of the isolate. Bounded, oldest first out.
 */
const idCaches = new WeakMap<object, Map<string, DurableObjectId>>();
const MAX_CACHED_IDS = 10_000;

export function stubByName<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, name: string): DurableObjectStub<T> {
  let ids = idCaches.get(ns);
  if (!ids) idCaches.set(ns, (ids = new Map()));
  let id = ids.get(name);
  if (!id) {
    id = ns.idFromName(name);
    if (ids.size >= MAX_CACHED_IDS) ids.delete(ids.keys().next().value!);
    ids.set(name, id);
  }
  return ns.get(id);
}

/** RPC results arrive as the runtime's serialised-result type; the objects return exactly `T`. */
function rpc<T>(result: unknown): Promise<T> {
  ioCounters.durableObjectCalls++;
  return result as Promise<T>;
}

export class DurableKeyStateClient implements KeyStateClient {
  constructor(private readonly ns: Env["KEY_STATE"]) {}

  private stub(key: KeyIdent) {
    return stubByName(this.ns, keyStateId(key));
  }

  async isStale(key: KeyIdent, revision: number): Promise<boolean> {
    try {
      return (await withTimeout(rpc<RevisionCheck>(this.stub(key).observe(revision)), DO_TIMEOUT_MS, "key state check")).stale;
    } catch (err) {
      logFailure("key state check failed; using cached record", { keyId: key.keyId }, err);
      return false;
    }
  }

  async bump(key: KeyIdent, revision: number): Promise<void> {
    try {
      await withTimeout(rpc<RevisionCheck>(this.stub(key).observe(revision)), DO_TIMEOUT_MS, "key state bump");
    } catch (err) {
      logFailure("key state bump failed", { keyId: key.keyId }, err);
    }
  }

  async verify(key: KeyIdent, input: KeyVerifyInput): Promise<KeyVerifyAnswer> {
    const wire = encodeKeyVerifyInput({ workspaceId: key.workspaceId, keyId: key.keyId, ...input });
    const answer = await withTimeout(rpc<string>(this.stub(key).verify(wire)), DO_TIMEOUT_MS, "key state verify");
    return JSON.parse(answer) as KeyVerifyAnswer;
  }

  changeCredits(change: CreditChange): Promise<CreditState | null> {
    return withTimeout(rpc<CreditState | null>(this.stub(change).changeCredits(change)), DO_TIMEOUT_MS, "credit change");
  }

  readCredits(key: KeyIdent, initial: CreditState | null, now: number): Promise<CreditState | null> {
    return withTimeout(rpc<CreditState | null>(this.stub(key).readCredits({ initial, now })), DO_TIMEOUT_MS, "credit read");
  }
}

export class DurableLimiterClient implements LimiterClient {
  constructor(private readonly ns: Env["LIMITER"]) {}

  private stub(name: string) {
    return stubByName(this.ns, name);
  }

  limit(objectName: string, input: LimiterInput): Promise<LimiterResult> {
    return withTimeout(rpc<LimiterResult>(this.stub(objectName).limit(input)), DO_TIMEOUT_MS, "rate limiter");
  }

  async refund(objectName: string, input: LimiterInput): Promise<void> {
    try {
      await withTimeout(rpc<void>(this.stub(objectName).refund(input)), DO_TIMEOUT_MS, "rate limiter refund");
    } catch (err) {
      logFailure("rate limit refund failed; tokens stay consumed until the window rolls over", { objectName }, err);
    }
  }
}
