/**
 * String vars and secrets, checked once per request by zod (bindings are typed by `wrangler types`).
 * A bad value is a logged 500 naming the variable, never a silently wrong default.
 */
import { z } from "zod";
import { DEFAULT_CACHE_TTL_MS } from "./services/cache";

const intString = (fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a non-negative integer")
    .optional()
    .transform((v) => (v === undefined ? fallback : Number(v)));

export const ConfigSchema = z.object({
  /** Isolate cache TTL for verification records (ms); with KV propagation, the revocation bound. 0 disables it. */
  VERIFY_CACHE_TTL_MS: intString(DEFAULT_CACHE_TTL_MS),
  /** Delay of the second KV publish of a mutation (ms), which closes the back-fill race. 0 disables it. */
  EDGE_REPUBLISH_DELAY_MS: intString(1500),
  /**
   * GitHub's secret-scanning public keys (`{"public_keys":[{key_identifier, key, is_current}]}`, as GitHub
   * publishes them). Empty = leaked-key reports are refused (412). Parsed by the leak endpoint only, so a bad
   * value disables that endpoint (a 412 naming the variable) instead of every route.
   */
  GITHUB_SECRET_SCANNING_KEYS: z
    .string()
    .optional()
    .transform((v) => v ?? ""),
});

export type Config = z.output<typeof ConfigSchema>;

let cached: { source: unknown; config: Config } | undefined;

export function readConfig(env: Record<string, unknown>): Config {
  if (cached && cached.source === env) return cached.config;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  cached = { source: env, config: parsed.data };
  return parsed.data;
}
