/**
 * The RPC contract of the `RateLimiter` Durable Object, checked at the object's boundary (the object trusts
 * nothing it is sent). One object counts for one identity (limits shared by all its keys) or for one
 * standalone namespace + identifier.
 *
 * The zod schemas are the contract. Every call is on a verify's or `ratelimit.limit`'s hot path, so the
 * objects first try the hand-written guards below (`isLimiterInput`), which accept a subset of what the
 * schemas accept (tested against them), and fall back to zod, for its detailed error, only when a guard
 * says no.
 */
import { z } from "zod";
import type { LimitOutcome } from "./ratelimit";

export const MAX_DURATION_MS = 2_592_000_000;

export const LimitRequestSchema = z.object({
  name: z.string().min(1).max(512),
  limit: z.number().int().min(0),
  duration: z.number().int().min(1000).max(MAX_DURATION_MS),
  cost: z.number().int().min(0),
});

export const LimiterInputSchema = z.object({
  requests: z.array(LimitRequestSchema).min(1).max(100),
  now: z.number().int().min(0),
});

export type LimiterInput = z.infer<typeof LimiterInputSchema>;
export type LimitRequestInput = z.infer<typeof LimitRequestSchema>;

/** A safe integer within [min, max]. */
export function isIntIn(v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
}

/** True only for values `LimitRequestSchema` accepts. */
export function isLimitRequest(v: unknown): v is LimitRequestInput {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.name === "string" &&
    r.name.length >= 1 &&
    r.name.length <= 512 &&
    isIntIn(r.limit, 0) &&
    isIntIn(r.duration, 1000, MAX_DURATION_MS) &&
    isIntIn(r.cost, 0)
  );
}

/** True only for arrays of `min`..`max` values `LimitRequestSchema` accepts. */
export function isLimitRequestList(v: unknown, min: number, max: number): v is LimitRequestInput[] {
  return Array.isArray(v) && v.length >= min && v.length <= max && v.every(isLimitRequest);
}

/** True only for values `LimiterInputSchema` accepts. */
export function isLimiterInput(v: unknown): v is LimiterInput {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return isLimitRequestList(r.requests, 1, 100) && isIntIn(r.now, 0);
}

/** The checked input: the guard's fast yes, or zod's answer (which throws a detailed `ZodError`). */
export function parseLimiterInput(input: unknown): LimiterInput {
  return isLimiterInput(input) ? input : LimiterInputSchema.parse(input);
}

export type LimiterResult = {
  passed: boolean;
  results: LimitOutcome[];
};
