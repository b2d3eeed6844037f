/**
 * Which rate limits a verify applies (Unkey's semantics): every `autoApply` limit of the key and of its
 * identity, plus every limit named in the request. A key-level limit shadows an identity-level limit of the
 * same name. A named limit that exists nowhere is an error (412), unless the request gives both `limit` and
 * `duration`, which makes it an ad-hoc limit on the key. A request's `limit`/`duration` override the
 * configured ones for that call; its `cost` (default 1) replaces the 1 an autoApply limit would cost.
 */
import type { RatelimitConfig, VerificationRecord } from "./record";

export type LimitTarget = "key" | "identity";

export type PlannedLimit = RatelimitConfig & { target: LimitTarget; cost: number };

export type RequestedLimit = { name: string; cost?: number | undefined; limit?: number | undefined; duration?: number | undefined };

export type LimitPlan = { ok: true; limits: PlannedLimit[] } | { ok: false; missing: string };

export function planLimits(record: VerificationRecord, requested: readonly RequestedLimit[] = []): LimitPlan {
  const keyLimits = new Map(record.ratelimits.map((r) => [r.name, r]));
  const identityLimits = new Map((record.identity?.ratelimits ?? []).map((r) => [r.name, r]));
  const planned = new Map<string, PlannedLimit>();

  for (const r of record.ratelimits) if (r.autoApply) planned.set(r.name, { ...r, target: "key", cost: 1 });
  for (const r of identityLimits.values()) {
    if (r.autoApply && !keyLimits.has(r.name)) planned.set(r.name, { ...r, target: "identity", cost: 1 });
  }

  for (const req of requested) {
    const fromKey = keyLimits.get(req.name);
    const config = fromKey ?? identityLimits.get(req.name);
    const cost = req.cost ?? 1;
    if (config) {
      planned.set(req.name, {
        ...config,
        target: fromKey ? "key" : "identity",
        cost,
        limit: req.limit ?? config.limit,
        duration: req.duration ?? config.duration,
      });
    } else if (req.limit !== undefined && req.duration !== undefined) {
      planned.set(req.name, { id: `adhoc_${req.name}`, name: req.name, limit: req.limit, duration: req.duration, autoApply: false, target: "key", cost });
    } else {
      return { ok: false, missing: req.name };
    }
  }
  return { ok: true, limits: [...planned.values()] };
}
