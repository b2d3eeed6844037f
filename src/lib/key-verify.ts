/**
 * The decision a key's Durable Object makes for one verify, as a pure function of its stored state and
 * the request: revision check, then every rate limit all-or-nothing, then credits with no overdraft.
 * A request is admitted only if everything passes; a refused request consumes nothing (any refill that
 * fell due is still applied).
 */
import { decideAll, limitOutcome, type LimitOutcome, type NamedLimitRequest, type WindowState } from "./ratelimit";
import { applyRefill, decideUsage, type CreditState } from "./usage";

export type KeyObjectState = {
  revision: number;
  /** undefined: never initialised (the caller's record seeds it); null: the key is unlimited. */
  credits: CreditState | null | undefined;
  windows: Record<string, WindowState>;
};

export type KeyVerifyInput = {
  revision: number;
  limits: NamedLimitRequest[];
  /** Present when the caller's record says the key has credits: the seed and the cost of this request. */
  credits?: { initial: CreditState; cost: number };
  now: number;
};


export type KeyVerifyOutcome =
  | { kind: "stale"; revision: number }
  | {
      kind: "decided";
      code: "VALID" | "RATE_LIMITED" | "USAGE_EXCEEDED";
      limits: LimitOutcome[];
      /** Credits left after this request; absent for an unlimited key. */
      remaining?: number;
      next: KeyObjectState;
    };

/** What the key's object answers a verify with: the outcome without the state it stored. */
export type KeyVerifyAnswer = { kind: "stale"; revision: number } | Omit<Extract<KeyVerifyOutcome, { kind: "decided" }>, "next">;

export function decideKeyVerify(state: KeyObjectState, input: KeyVerifyInput): KeyVerifyOutcome {
  if (input.revision < state.revision) return { kind: "stale", revision: state.revision };
  const revision = input.revision;
  const credits = state.credits === undefined ? input.credits?.initial : state.credits;
  const limits = decideAll(state.windows, input.limits, input.now);
  const outcomes = limits.results.map(limitOutcome);
  const base = { revision, credits: credits ?? state.credits, windows: state.windows };

  if (!limits.passed) {
    // Nothing is charged, but the answer still reports the true balance (with any refill that fell due).
    const current = input.credits && credits ? applyRefill(credits, input.now) : undefined;
    return {
      kind: "decided",
      code: "RATE_LIMITED",
      limits: outcomes,
      ...(current ? { remaining: current.remaining } : {}),
      next: current ? { ...base, credits: current } : base,
    };
  }
  if (!input.credits || !credits) {
    return { kind: "decided", code: "VALID", limits: outcomes, next: { ...base, windows: limits.windows } };
  }
  const usage = decideUsage(credits, input.credits.cost, input.now);
  if (!usage.allowed) {
    // Nothing consumed, so the limits report what is left without this request.
    const unconsumed = decideAll(state.windows, input.limits.map((l) => ({ ...l, cost: 0 })), input.now);
    return {
      kind: "decided",
      code: "USAGE_EXCEEDED",
      limits: unconsumed.results.map((r) => ({ ...limitOutcome(r), passed: true })),
      remaining: usage.remaining,
      next: { ...base, credits: usage.next },
    };
  }
  return {
    kind: "decided",
    code: "VALID",
    limits: outcomes,
    remaining: usage.remaining,
    next: { revision, credits: usage.next, windows: limits.windows },
  };
}
