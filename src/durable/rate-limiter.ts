import { DurableObject } from "cloudflare:workers";
import { LimiterInputSchema, type LimiterResult } from "../lib/limiter-protocol";
import { decideAll, pruneWindows, refund, type WindowState } from "../lib/ratelimit";

/**
 * Sliding-window counters for one identity (`idFromName("identity:<workspaceId>:<identityId>")`) or one
 * standalone identifier (`idFromName("ratelimit:<workspaceId>:<namespaceId>:<identifier>")`).
 * Storage: `windows` → Record<name, WindowState>. An alarm drops stale windows and, when none is left,
 * all storage.
 */
export class RateLimiter extends DurableObject<Env> {
  private windows: Record<string, WindowState> = {};

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.windows = (await ctx.storage.get<Record<string, WindowState>>("windows")) ?? {};
    });
  }

  /** Applies every request all-or-nothing: if one fails, nothing is consumed. */
  async limit(input: unknown): Promise<LimiterResult> {
    const { requests, now } = LimiterInputSchema.parse(input);
    const decision = decideAll(this.windows, requests, now);
    if (decision.passed) await this.save(decision.windows, requests, now);
    return { passed: decision.passed, results: decision.results.map(({ next: _next, ...r }) => r) };
  }

  /** Gives back tokens an earlier `limit` consumed, when a later check of the same request refused it. */
  async refund(input: unknown): Promise<void> {
    const { requests, now } = LimiterInputSchema.parse(input);
    const next = { ...this.windows };
    for (const r of requests) {
      const window = refund(next[r.name], r.cost, r.duration, now);
      if (window) next[r.name] = window;
    }
    await this.save(next, requests, now);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.windows = pruneWindows(this.windows, now);
    if (Object.keys(this.windows).length === 0) await this.ctx.storage.deleteAll();
    else {
      await this.ctx.storage.put("windows", this.windows);
      await this.scheduleCleanup(now);
    }
  }

  private async save(windows: Record<string, WindowState>, requests: { duration: number }[], now: number): Promise<void> {
    this.windows = windows;
    await this.ctx.storage.put("windows", windows);
    if ((await this.ctx.storage.getAlarm()) === null) await this.scheduleCleanup(now, Math.max(...requests.map((r) => r.duration)));
  }

  private async scheduleCleanup(now: number, duration?: number): Promise<void> {
    const longest = duration ?? Math.max(...Object.values(this.windows).map((w) => w.duration));
    await this.ctx.storage.setAlarm(now + 2 * longest + 1000);
  }
}
