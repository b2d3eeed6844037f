import { DurableObject } from "cloudflare:workers";
import { parseLimiterInput, type LimiterResult } from "../lib/limiter-protocol";
import { decideAll, limitOutcome, pruneWindows, refund, type WindowState } from "../lib/ratelimit";
import { AlarmSlot } from "./alarm-slot";
import { WINDOW_FLUSH_MS } from "./key-state";

/**
 * Sliding-window counters for one identity (`idFromName("identity:<workspaceId>:<identityId>")`) or one
 * standalone identifier (`idFromName("ratelimit:<workspaceId>:<namespaceId>:<identifier>")`).
 * Storage: `windows` → Record<name, WindowState>.
 *
 * Decisions are made from memory, one call at a time. As in `KeyState`, the alarm stores changed windows
 * at most `WINDOW_FLUSH_MS` after they change; once every window is stale it deletes all storage.
 */
export class RateLimiter extends DurableObject<Env> {
  private windows: Record<string, WindowState> = {};
  private alarms!: AlarmSlot;
  private dirty = false;
  /** The latest request time seen: the clock windows are pruned by. */
  private lastNow = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const [windows, alarm] = await Promise.all([ctx.storage.get<Record<string, WindowState>>("windows"), ctx.storage.getAlarm()]);
      this.windows = windows ?? {};
      this.alarms = new AlarmSlot(ctx.storage, alarm);
    });
  }

  /** Applies every request all-or-nothing: if one fails, nothing is consumed. */
  async limit(input: unknown): Promise<LimiterResult> {
    const { requests, now } = parseLimiterInput(input);
    const decision = decideAll(this.windows, requests, now);
    if (decision.passed) await this.changed(decision.windows, now);
    return { passed: decision.passed, results: decision.results.map(limitOutcome) };
  }

  /** Gives back tokens an earlier `limit` consumed, when a later check of the same request refused it. */
  async refund(input: unknown): Promise<void> {
    const { requests, now } = parseLimiterInput(input);
    const next = { ...this.windows };
    for (const r of requests) {
      const window = refund(next[r.name], r.cost, r.duration, now);
      if (window) next[r.name] = window;
    }
    await this.changed(next, now);
  }

  /** Stores changed windows; drops stale ones, and all storage once none is left. */
  override async alarm(): Promise<void> {
    const firedFor = this.alarms.fired();
    const now = Math.max(this.lastNow, firedFor ?? Date.now());
    this.windows = pruneWindows(this.windows, now);
    const durations = Object.values(this.windows).map((w) => w.duration);
    const wasDirty = this.dirty;
    this.dirty = false;
    try {
      if (durations.length === 0) await this.ctx.storage.deleteAll();
      else if (wasDirty) await this.ctx.storage.put("windows", this.windows);
    } catch (err) {
      this.dirty = wasDirty;
      throw err;
    }
    // Come back when the longest window can no longer matter, to delete what is left.
    if (durations.length > 0) await this.alarms.by(now + 2 * Math.max(...durations) + 1000);
  }

  private async changed(windows: Record<string, WindowState>, now: number): Promise<void> {
    this.windows = windows;
    this.dirty = true;
    if (now > this.lastNow) this.lastNow = now;
    await this.alarms.by(now + WINDOW_FLUSH_MS);
  }
}
