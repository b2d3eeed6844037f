/**
 * Per-isolate counters of the I/O the verify path does, so tests and benchmarks can prove the hot-path
 * claims (a warm verify does no D1 query and no KV read; a cold one at most one KV read; a verify with
 * limits exactly one Durable Object call). They live at module scope because they describe the isolate,
 * and they are never put on the wire.
 */
export type IoCounters = {
  /** D1 round trips on the request path (a batch is one). */
  d1Queries: number;
  /** D1 writes deferred with waitUntil (debounced lastUsedAt). */
  d1BackgroundWrites: number;
  kvReads: number;
  kvWrites: number;
  /** Calls to KeyState or RateLimiter objects. */
  durableObjectCalls: number;
};

export const ioCounters: IoCounters = { d1Queries: 0, d1BackgroundWrites: 0, kvReads: 0, kvWrites: 0, durableObjectCalls: 0 };

export function resetIoCounters(): void {
  for (const k of Object.keys(ioCounters) as Array<keyof IoCounters>) ioCounters[k] = 0;
}

export function snapshotIoCounters(): IoCounters {
  return { ...ioCounters };
}
