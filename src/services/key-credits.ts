/**
 * How a key's credits travel between the wire, the key's object and D1: the wire's refill as stored state,
 * a new key's starting balance, and the D1 columns that mirror a balance.
 */
import { ApiError } from "../lib/errors";
import type { RefillConfig } from "../lib/record";
import type { CreditState, RefillState } from "../lib/usage";

export type CreditsInput = { remaining: number | null; refill?: RefillConfig | undefined };

export type CreditColumns = {
  creditsRemaining: number | null;
  refillAmount: number | null;
  refillDay: number | null;
  lastRefillAt: number | null;
};

export function refillBadRequest(message: string): ApiError {
  return new ApiError("INVALID_INPUT", message, [{ location: "body.credits.refill", message: "a refill needs a non-null remaining" }]);
}

/** The wire's refill (`interval` + optional `refillDay`) as stored state (`refillDay` set = monthly). */
export function refillState(refill: RefillConfig): RefillState {
  return refill.interval === "monthly" && refill.refillDay !== undefined ? { amount: refill.amount, refillDay: refill.refillDay } : { amount: refill.amount };
}

export function createCredits(credits: CreditsInput | undefined, now: number): CreditState | null {
  if (!credits || credits.remaining === null) {
    if (credits?.refill) throw refillBadRequest("credits.refill needs credits.remaining to be set.");
    return null;
  }
  return { remaining: credits.remaining, lastRefillAt: now, ...(credits.refill ? { refill: refillState(credits.refill) } : {}) };
}

/** Where D1 mirrors a balance (NULL remaining = unlimited; NULL refill day with an amount = daily). */
export function creditColumns(state: CreditState | null): CreditColumns {
  if (!state) return { creditsRemaining: null, refillAmount: null, refillDay: null, lastRefillAt: null };
  return {
    creditsRemaining: state.remaining,
    refillAmount: state.refill?.amount ?? null,
    refillDay: state.refill?.refillDay ?? null,
    lastRefillAt: state.lastRefillAt,
  };
}
