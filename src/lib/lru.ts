/**
 * A bounded LRU map whose entries expire `ttlMs` after they were set. Map iteration order is insertion
 * order, so re-inserting on read keeps the least recently used entry first, where eviction takes it.
 */
export class TtlLru<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  /** Returns the live entry (wrapped, so a cached `null` is distinguishable from a miss). */
  get(key: string, now: number): { value: V } | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    if (hit.expiresAt <= now) return undefined;
    this.map.set(key, hit);
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
