/**
 * Rate-limit decisions: a sliding window approximated from two fixed windows, as Unkey does.
 *
 * Time is cut into fixed windows of `duration` ms (`seq = floor(now / duration)`). The effective count is
 * `current + previous * (1 - elapsed / duration)`: the previous window's count, weighted by how much of it
 * still overlaps the sliding window that ends now. A request of `cost` passes if `effective + cost <= limit`.
 *
 * Error: the weighting assumes the previous window's requests were spread evenly. If they all came at its
 * very end, up to `limit * (1 - elapsed / duration)` of them are forgotten too early, so in the worst case
 * a sliding window of `duration` ms admits up to about 2x `limit` (at a window boundary, after a burst);
 * if they came at its start, it refuses too early. Within one fixed window (previous = 0) the count is
 * exact: never more than `limit` admitted. Counts live in a single Durable Object per key, identity or
 * identifier, so concurrent requests are serialised and never over-admit.
 */

export type WindowState = { duration: number; seq: number; current: number; previous: number };

export type LimitRequest = { limit: number; duration: number; cost: number };

export type LimitDecision = {
  passed: boolean;
  limit: number;
  /** Tokens left after this request (after consuming, if it passed). */
  remaining: number;
  /** Unix ms at which the current fixed window ends. */
  reset: number;
  /** The window state to store if the request is admitted. */
  next: WindowState;
};

/** Moves a stored window to `now`: same window, the next one (previous = old current), or a fresh one. */
export function slide(state: WindowState | undefined, duration: number, now: number): WindowState {
  const seq = Math.floor(now / duration);
  if (!state || state.duration !== duration || state.seq < seq - 1) return { duration, seq, current: 0, previous: 0 };
  if (state.seq === seq) return state;
  if (state.seq === seq - 1) return { duration, seq, current: 0, previous: state.current };
  // A window from the future (clock moved back): keep counting in it rather than forgetting.
  return state;
}

export function effectiveCount(state: WindowState, now: number): number {
  const elapsed = Math.min(Math.max(now - state.seq * state.duration, 0), state.duration);
  return state.current + state.previous * (1 - elapsed / state.duration);
}

/**
 * Decides one request against one window. `cost: 0` is a peek: it always passes and consumes nothing.
 * The caller stores `next` only if every limit of the request passed (all-or-nothing).
 */
export function decideLimit(state: WindowState | undefined, req: LimitRequest, now: number): LimitDecision {
  const window = slide(state, req.duration, now);
  const effective = effectiveCount(window, now);
  const passed = req.cost === 0 || effective + req.cost <= req.limit;
  const used = passed ? effective + req.cost : effective;
  return {
    passed,
    limit: req.limit,
    remaining: Math.max(0, Math.floor(req.limit - used)),
    reset: (window.seq + 1) * req.duration,
    next: passed ? { ...window, current: window.current + req.cost } : window,
  };
}

/**
 * Takes back what an admitted request consumed (used when a later check of the same request failed).
 * `consumedAt` is the `now` of the request that consumed: if the window has rolled over since, the tokens
 * are in `previous` and are taken from there; older than that, they no longer count and nothing changes.
 */
export function refund(state: WindowState | undefined, cost: number, duration: number, consumedAt: number): WindowState | undefined {
  if (!state || state.duration !== duration) return state;
  const seq = Math.floor(consumedAt / duration);
  if (state.seq === seq) return { ...state, current: Math.max(0, state.current - cost) };
  if (state.seq === seq + 1) return { ...state, previous: Math.max(0, state.previous - cost) };
  return state;
}

export type NamedLimitRequest = LimitRequest & { name: string };

/** What an object reports of one limit's decision: everything but the window state it keeps. */
export type LimitOutcome = { name: string; passed: boolean; limit: number; remaining: number; reset: number };

export function limitOutcome(d: LimitOutcome): LimitOutcome {
  return { name: d.name, passed: d.passed, limit: d.limit, remaining: d.remaining, reset: d.reset };
}

/**
 * Decides several limits at once, all-or-nothing: the returned windows are the ones to store if every
 * limit passed; if any failed, nothing is consumed and `windows` is the very object passed in.
 */
export function decideAll(
  windows: Readonly<Record<string, WindowState>>,
  requests: readonly NamedLimitRequest[],
  now: number,
): { passed: boolean; results: Array<LimitDecision & { name: string }>; windows: Readonly<Record<string, WindowState>> } {
  const results: Array<LimitDecision & { name: string }> = [];
  let passed = true;
  for (const r of requests) {
    const d = decideLimit(windows[r.name], r, now);
    results.push({ name: r.name, passed: d.passed, limit: d.limit, remaining: d.remaining, reset: d.reset, next: d.next });
    if (!d.passed) passed = false;
  }
  if (!passed) {
    // Refused as a whole: nothing is consumed, so a limit that would have passed reports what is left now.
    for (const [i, r] of results.entries()) {
      if (r.passed) results[i] = { ...r, remaining: decideLimit(windows[r.name], { ...requests[i]!, cost: 0 }, now).remaining };
    }
    return { passed, results, windows };
  }
  const next: Record<string, WindowState> = { ...windows };
  for (const r of results) next[r.name] = r.next;
  return { passed, results, windows: next };
}

/** Drops windows that can no longer influence a decision (older than their previous window). */
export function pruneWindows(windows: Readonly<Record<string, WindowState>>, now: number): Record<string, WindowState> {
  const out: Record<string, WindowState> = {};
  for (const [name, w] of Object.entries(windows)) if (w.seq >= Math.floor(now / w.duration) - 1) out[name] = w;
  return out;
}
