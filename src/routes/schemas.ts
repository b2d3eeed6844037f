/**
 * Shared public schemas. These zod definitions are the single source for request validation and for the
 * OpenAPI document at /openapi.json. Request objects are strict (an unknown field is a 400, as in Unkey's
 * spec with additionalProperties: false); response fields that may be absent are optional, never nullable.
 */
import { z } from "@hono/zod-openapi";
import { MAX_KEY_BYTES, MAX_KEY_LENGTH, MIN_KEY_BYTES } from "../lib/keys";
import { MAX_DURATION_MS } from "../lib/limiter-protocol";
import { VERIFY_CODES } from "../lib/verify";

/** Latest timestamp Unkey accepts for `expires` (2100-01-01). */
export const MAX_TIMESTAMP = 4_102_444_800_000;

export const Meta = z.object({ requestId: z.string().openapi({ example: "req_0AbCdEfGhIjKlMnOpQr" }) }).openapi("Meta");

export const Pagination = z
  .object({
    cursor: z.string().optional().openapi({ description: "Pass to the next call to get the next page." }),
    hasMore: z.boolean(),
  })
  .openapi("Pagination");

/** Deepest nesting accepted in free-form objects; deeper input is a 400, never a stack overflow later. */
export const MAX_JSON_DEPTH = 32;

/** Nesting depth of a parsed JSON value, computed without recursion. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    max = Math.max(max, depth);
    if (max > MAX_JSON_DEPTH) return max;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}

export const JsonObject = z
  .record(z.string(), z.unknown())
  .refine((v) => jsonDepth(v) <= MAX_JSON_DEPTH, `may nest at most ${MAX_JSON_DEPTH} levels deep`)
  .openapi({
    type: "object",
    additionalProperties: true,
    description: `Arbitrary JSON object (at most ${MAX_JSON_DEPTH} levels deep).`,
    example: { plan: "pro" },
  });

export const ResourceId = z
  .string()
  .min(3)
  .max(255)
  .regex(/^[a-zA-Z0-9_]+$/, "may contain only letters, digits and underscores");

export const ExternalId = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9_.-]+$/, "may contain only letters, digits, '_', '.' and '-'")
  .openapi({ description: "Your id for the owner of the key; links (and creates if needed) an identity.", example: "user_123" });

export const Timestamp = z.number().int().min(0).max(MAX_TIMESTAMP);

export const RatelimitRequest = z
  .strictObject({
    name: z.string().min(3).max(128).openapi({ example: "requests" }),
    limit: z.number().int().min(1).openapi({ example: 100 }),
    duration: z.number().int().min(1000).max(MAX_DURATION_MS).openapi({ description: "Window length in milliseconds (at most 30 days).", example: 60000 }),
    autoApply: z.boolean().default(false).openapi({ description: "Apply on every verify without naming it." }),
  })
  .openapi("RatelimitRequest");

export const RatelimitResponse = z
  .object({
    id: z.string(),
    name: z.string(),
    limit: z.number().int(),
    duration: z.number().int(),
    autoApply: z.boolean(),
  })
  .openapi("RatelimitResponse");

export const RefillRequest = z
  .strictObject({
    interval: z.enum(["daily", "monthly"]),
    amount: z.number().int().min(1),
    refillDay: z.number().int().min(1).max(31).optional().openapi({ description: "Day of month; monthly only." }),
  })
  .superRefine((v, ctx) => {
    if (v.interval === "monthly" && v.refillDay === undefined) {
      ctx.addIssue({ code: "custom", path: ["refillDay"], message: "a monthly refill needs refillDay" });
    }
    if (v.interval === "daily" && v.refillDay !== undefined) {
      ctx.addIssue({ code: "custom", path: ["refillDay"], message: "a daily refill must not set refillDay" });
    }
  })
  .openapi("KeyCreditsRefill");

export const CreditsResponse = z
  .object({
    remaining: z.number().int().nullable(),
    refill: z
      .object({
        interval: z.enum(["daily", "monthly"]),
        amount: z.number().int(),
        refillDay: z.number().int().optional(),
      })
      .optional(),
  })
  .openapi("KeyCreditsData");

export const Identity = z
  .object({
    id: z.string(),
    externalId: z.string(),
    meta: JsonObject.optional(),
    ratelimits: z.array(RatelimitResponse).optional(),
  })
  .openapi("Identity");

export const KeyResponseData = z
  .object({
    keyId: z.string(),
    start: z.string(),
    enabled: z.boolean(),
    createdAt: z.number().int(),
    name: z.string().optional(),
    meta: JsonObject.optional(),
    updatedAt: z.number().int().optional(),
    lastUsedAt: z.number().int().optional(),
    expires: z.number().int().optional(),
    permissions: z.array(z.string()).optional(),
    roles: z.array(z.string()).optional(),
    credits: CreditsResponse.optional(),
    identity: Identity.optional(),
    ratelimits: z.array(RatelimitResponse).optional(),
    plaintext: z.string().optional(),
  })
  .openapi("KeyResponseData");

export const VerifyRatelimitResult = z
  .object({
    exceeded: z.boolean(),
    id: z.string(),
    name: z.string(),
    limit: z.number().int(),
    duration: z.number().int(),
    reset: z.number().int(),
    remaining: z.number().int(),
    autoApply: z.boolean(),
  })
  .openapi("VerifyKeyRatelimitData");

export const VerifyKeyData = z
  .object({
    valid: z.boolean(),
    code: z.enum(VERIFY_CODES),
    keyId: z.string().optional(),
    name: z.string().optional(),
    meta: JsonObject.optional(),
    expires: z.number().int().optional(),
    credits: z.number().int().optional(),
    enabled: z.boolean().optional(),
    permissions: z.array(z.string()).optional(),
    roles: z.array(z.string()).optional(),
    identity: Identity.optional(),
    ratelimits: z.array(VerifyRatelimitResult).optional(),
  })
  .openapi("V2KeysVerifyKeyResponseData");

export const KeyPlaintext = z.string().min(1).max(MAX_KEY_LENGTH);
export const KeyByteLength = z.number().int().min(MIN_KEY_BYTES).max(MAX_KEY_BYTES);

export const EmptyData = z.object({}).openapi("EmptyResponse");

/** Unkey's slug alphabet: what permissions are named by, and what verifyKey's permission query names. */
export const PermissionSlug = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[a-zA-Z0-9_:\-.*]+$/, "may contain only letters, digits and _ : - . *")
  .openapi({ description: "A permission's slug (or its id, which fits the same alphabet).", example: "documents.read" });

/** A permission named by its id or its slug. */
export const PermissionSelector = z.string().min(1).max(255).openapi({ description: "The permission's id or its slug.", example: "documents.read" });

/** A role named by its id or its name. */
export const RoleSelector = z.string().min(1).max(128).openapi({ description: "The role's id or its name.", example: "editor" });

/** Unkey's `Permission` (`description` is omitted when there is none). */
export const Permission = z
  .object({ id: z.string(), name: z.string(), slug: z.string(), description: z.string().optional() })
  .openapi("Permission");

/** Unkey's `Role`, with the permissions it carries. */
export const Role = z
  .object({ id: z.string(), name: z.string(), description: z.string().optional(), permissions: z.array(Permission).optional() })
  .openapi("Role");

export const ErrorDetail = z
  .object({
    title: z.string(),
    detail: z.string(),
    status: z.number().int(),
    type: z.string(),
    errors: z.array(z.object({ location: z.string(), message: z.string(), fix: z.string().optional() })).optional(),
  })
  .openapi("ErrorDetail");

export const ErrorEnvelope = z.object({ meta: Meta, error: ErrorDetail }).openapi("ErrorResponse");

/** `{meta, data}` */
export function envelope<T extends z.ZodType>(data: T) {
  return z.object({ meta: Meta, data });
}

/** `{meta, data, pagination}` */
export function listEnvelope<T extends z.ZodType>(item: T) {
  return z.object({ meta: Meta, data: z.array(item), pagination: Pagination });
}

/** The error responses every operation declares (all in the shared error format). */
export const errorResponses = Object.fromEntries(
  (
    [
      [400, "Bad request: invalid input, or a missing or malformed Authorization header."],
      [401, "Unknown or invalid root key."],
      [403, "The root key lacks a required permission."],
      [404, "The resource does not exist (or belongs to another workspace)."],
      [409, "The resource already exists."],
      [412, "A precondition failed."],
      [500, "Unexpected error."],
    ] as const
  ).map(([status, description]) => [status, { description, content: { "application/json": { schema: ErrorEnvelope } } }]),
) as Record<400 | 401 | 403 | 404 | 409 | 412 | 500, { description: string; content: { "application/json": { schema: typeof ErrorEnvelope } } }>;

/** The request part of a route: a required JSON body validated by `schema`. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } };
}

/** The 200 response part of a route. */
export function ok<T extends z.ZodType>(schema: T, description = "Success") {
  return { 200: { description, content: { "application/json": { schema } } } };
}

/** superRefine for lists of named limits: a name may appear once. */
export function uniqueNames(list: ReadonlyArray<{ name: string }>, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  list.forEach((item, i) => {
    if (seen.has(item.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate ratelimit name "${item.name}"` });
    seen.add(item.name);
  });
}
