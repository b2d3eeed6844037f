/**
 * Usage credits: a balance that verifies spend, never below zero, with optional daily or monthly refills
 * computed at access time (no cron that can lag). Refill semantics follow Unkey's: at each boundary the
 * balance is raised to `amount` if it is below it (a reset, not an addition; credits bought on top of the
 * refill amount are kept).
 */

export type RefillState = { amount: number; /** 1..31 = monthly on that day; undefined = daily. */ refillDay?: number };

export type CreditState = {
  remaining: number;
  refill?: RefillState;
  /** Unix ms of the last refill (or of when the balance was set); refills happen at boundaries after it. */
  lastRefillAt: number;
};

const DAY_MS = 86_400_000;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * The latest refill boundary at or before `now` (UTC midnight). Monthly refills happen on `refillDay`, or
 * on the month's last day when it is shorter (a refill day of 31 refills on 30 April and 28/29 February).
 */
export function lastRefillBoundary(refill: RefillState, now: number): number {
  if (refill.refillDay === undefined) return Math.floor(now / DAY_MS) * DAY_MS;
  const d = new Date(now);
  let year = d.getUTCFullYear();
  let month = d.getUTCMonth();
  for (let i = 0; i < 2; i++) {
    const day = Math.min(refill.refillDay, daysInMonth(year, month));
    const boundary = Date.UTC(year, month, day);
    if (boundary <= now) return boundary;
    month -= 1;
    if (month < 0) {
      month = 11;
      year -= 1;
    }
  }
  // Unreachable: the previous month's boundary is always in the past.
  return Date.UTC(year, month, 1);
}

/** Applies any refill due between `state.lastRefillAt` and `now`. */
export function applyRefill(state: CreditState, now: number): CreditState {
  if (!state.refill) return state;
  const boundary = lastRefillBoundary(state.refill, now);
  if (state.lastRefillAt >= boundary) return state;
  return { ...state, remaining: Math.max(state.remaining, state.refill.amount), lastRefillAt: boundary };
}

export type UsageDecision =
  | { allowed: true; remaining: number; next: CreditState }
  | { allowed: false; remaining: number; next: CreditState };

/**
 * Spends `cost` credits. A cost larger than the balance is refused and charges nothing (no overdraft);
 * `cost: 0` always passes. `next` includes any refill that became due, whether or not the spend passed.
 */
export function decideUsage(state: CreditState, cost: number, now: number): UsageDecision {
  const refilled = applyRefill(state, now);
  if (cost > refilled.remaining) return { allowed: false, remaining: refilled.remaining, next: refilled };
  // A check that spends nothing leaves the state as it is (and its object with nothing to store).
  if (cost === 0) return { allowed: true, remaining: refilled.remaining, next: refilled };
  const next = { ...refilled, remaining: refilled.remaining - cost };
  return { allowed: true, remaining: next.remaining, next };
}

export type CreditOperation = { operation: "set"; value: number | null } | { operation: "increment" | "decrement"; value: number };

/**
 * keys.updateCredits: `set` replaces the balance (`null` = unlimited, which also drops the refill),
 * `increment` adds, `decrement` subtracts and floors at zero. Returns null for an unlimited key.
 */
export function applyCreditOperation(state: CreditState | null, op: CreditOperation, now: number): CreditState | null {
  if (op.operation === "set") {
    if (op.value === null) return null;
    // The balance is what was set, as of now: only boundaries after this moment refill it.
    return { remaining: op.value, lastRefillAt: now, ...(state?.refill ? { refill: state.refill } : {}) };
  }
  if (!state) throw new RangeError("an unlimited key has no balance to change");
  const current = applyRefill(state, now);
  // A balance stays a safe integer: an increment past 2^53 - 1 stops there rather than losing precision.
  const remaining =
    op.operation === "increment" ? Math.min(Number.MAX_SAFE_INTEGER, current.remaining + op.value) : Math.max(0, current.remaining - op.value);
  return { ...current, remaining };
}

export type CreditPatch = { remaining?: number | null | undefined; refill?: RefillState | null | undefined } | null;

/**
 * keys.updateKey's `credits`: `null` or `remaining: null` make the key unlimited (dropping any refill);
 * omitted parts keep their current values; a new `remaining` counts from now. A refill on a key that stays
 * unlimited is refused (RangeError).
 */
export function patchCredits(current: CreditState | null, patch: CreditPatch, now: number): CreditState | null {
  if (patch === null || patch.remaining === null) {
    if (patch?.refill) throw new RangeError("a refill needs a balance: set credits.remaining too");
    return null;
  }
  const remaining = patch.remaining ?? current?.remaining;
  if (remaining === undefined) {
    if (patch.refill) throw new RangeError("a refill needs a balance: set credits.remaining too");
    return null;
  }
  const refill = patch.refill === undefined ? current?.refill : (patch.refill ?? undefined);
  // A new balance or a new refill schedule counts from now: adding a refill must not top the key up at once.
  const lastRefillAt = patch.remaining !== undefined || patch.refill !== undefined || !current ? now : current.lastRefillAt;
  return { remaining, lastRefillAt, ...(refill ? { refill } : {}) };
}
