/**
 * The RPC contract of the per-key `KeyState` Durable Object, checked at the object's boundary. As in
 * `limiter-protocol.ts`, the zod schemas are the contract and the verify path first tries a hand-written
 * guard that accepts a subset of what they accept.
 */
import { z } from "zod";
import { isIntIn, isLimitRequestList, LimitRequestSchema } from "./limiter-protocol";

export const CreditStateSchema = z.object({
  remaining: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  refill: z.object({ amount: z.number().int().min(1), refillDay: z.number().int().min(1).max(31).optional() }).optional(),
  lastRefillAt: z.number().int().min(0),
});

export const KeyIdentSchema = z.object({ workspaceId: z.string().min(1), keyId: z.string().min(1) });

export const KeyVerifyInputSchema = KeyIdentSchema.extend({
  revision: z.number().int().min(0),
  // 50 configured limits of the key, 50 of its identity, and up to 100 named in the request.
  limits: z.array(LimitRequestSchema).max(200),
  credits: z.object({ initial: CreditStateSchema, cost: z.number().int().min(0) }).optional(),
  now: z.number().int().min(0),
});

export type KeyVerifyWire = z.infer<typeof KeyVerifyInputSchema>;

/** True only for values `CreditStateSchema` accepts. */
export function isCreditState(v: unknown): v is z.infer<typeof CreditStateSchema> {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Record<string, unknown>;
  if (!isIntIn(c.remaining, 0) || !isIntIn(c.lastRefillAt, 0)) return false;
  if (c.refill === undefined) return true;
  if (typeof c.refill !== "object" || c.refill === null) return false;
  const r = c.refill as Record<string, unknown>;
  return isIntIn(r.amount, 1) && (r.refillDay === undefined || isIntIn(r.refillDay, 1, 31));
}

/** True only for values `KeyVerifyInputSchema` accepts. */
export function isKeyVerifyInput(v: unknown): v is KeyVerifyWire {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  if (typeof r.workspaceId !== "string" || r.workspaceId.length === 0) return false;
  if (typeof r.keyId !== "string" || r.keyId.length === 0) return false;
  if (!isIntIn(r.revision, 0) || !isIntIn(r.now, 0) || !isLimitRequestList(r.limits, 0, 200)) return false;
  if (r.credits === undefined) return true;
  if (typeof r.credits !== "object" || r.credits === null) return false;
  const c = r.credits as Record<string, unknown>;
  return isCreditState(c.initial) && isIntIn(c.cost, 0);
}

/**
 * `KeyState.verify` takes its input and gives its answer as JSON text. It is the one RPC on a rate-limited
 * verify's path, and V8's structured clone of these small nested objects measured about 9 µs of CPU more
 * per call than JSON text (docs/benchmarks.md). Every value in them is a string or a safe integer, so JSON
 * carries them exactly.
 */
export function encodeKeyVerifyInput(input: KeyVerifyWire): string {
  return JSON.stringify(input);
}

/** The checked input: the guard's fast yes, or zod's answer (which throws a detailed `ZodError`). */
export function parseKeyVerifyInput(text: unknown): KeyVerifyWire {
  if (typeof text !== "string") throw new TypeError("KeyState.verify takes JSON text");
  const input: unknown = JSON.parse(text);
  return isKeyVerifyInput(input) ? input : KeyVerifyInputSchema.parse(input);
}

export const CreditOperationSchema = z.discriminatedUnion("operation", [
  z.object({ operation: z.literal("set"), value: z.number().int().min(0).nullable() }),
  z.object({ operation: z.enum(["increment", "decrement"]), value: z.number().int().min(0) }),
]);

/**
 * Changes a key's balance: an updateCredits operation, an updateKey patch (applied to the balance the object
 * holds at that moment), or a replacement of the whole state.
 */
export const CreditChangeSchema = KeyIdentSchema.extend({
  /** The state D1 knew before the change, used if the object was never initialised. */
  initial: CreditStateSchema.nullable(),
  change: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("operation"), op: CreditOperationSchema }),
    z.object({ kind: z.literal("replace"), state: CreditStateSchema.nullable() }),
    z.object({
      kind: z.literal("patch"),
      patch: z
        .object({
          remaining: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
          refill: CreditStateSchema.shape.refill.unwrap().nullable().optional(),
        })
        .nullable(),
    }),
  ]),
  now: z.number().int().min(0),
});

export const CreditReadSchema = z.object({ initial: CreditStateSchema.nullable(), now: z.number().int().min(0) });

export type CreditChange = z.infer<typeof CreditChangeSchema>;
