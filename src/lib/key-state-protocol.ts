/**
 * The RPC contract of the per-key `KeyState` Durable Object, checked with zod at the object's boundary.
 */
import { z } from "zod";
import { LimitRequestSchema } from "./limiter-protocol";

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
