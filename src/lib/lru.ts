/**
 * A bounded map whose entries expire `ttlMs` after they were set; when full, the oldest insertion is
 * evicted first (Map iteration order is insertion order).
 */
export class TtlLru<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  /**
   * Returns the live entry (wrapped, so a cached `null` is distinguishable from a miss). A hit is not
   * moved: with entries living seconds, eviction in insertion order is as good as recency, and a hit (the
   * hot path) stays a single Map lookup.
   */
  get(key: string, now: number): { value: V } | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    return { value: hit.value };
  }

  set(key: string, value: V, now: number, ttlMs: number = this.ttlMs): void {
    this.map.delete(key);
    if (ttlMs <= 0) return;
    this.map.set(key, { value, expiresAt: now + ttlMs });
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
