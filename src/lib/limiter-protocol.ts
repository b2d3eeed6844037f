/**
 * The RPC contract of the `RateLimiter` Durable Object, checked with zod at the object's boundary (the
 * object trusts nothing it is sent). One object counts for one identity (limits shared by all its keys)
 * or for one standalone namespace + identifier.
 */
import { z } from "zod";

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

export type LimiterResult = {
  passed: boolean;
  results: Array<{ name: string; passed: boolean; limit: number; remaining: number; reset: number }>;
};
