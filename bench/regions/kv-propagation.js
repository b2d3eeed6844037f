/**
 * A KV namespace with propagation delay, for the multi-region simulation (bench/regions.ts). Each simulated
 * region's `EDGE` binding is this module (a Miniflare wrapped binding) over one shared namespace `INNER`:
 *
 * - every write is kept as its own version, `v:<key>:<ms>:<region>:<uuid>`, with metadata
 *   `{at, region, expiresAt, deleted}`;
 * - a read in region R returns the newest version visible to R: a version written by R is visible at once,
 *   one written elsewhere `PROPAGATION_MS` after it was written (last write wins, as in KV);
 * - `LAG_KEY` (a control entry in `INNER`, `ctl:lag:<region>`) delays this region's writes by that many ms
 *   before they land, so the harness can make a back-fill arrive just after a revocation's write.
 *
 * Implements what Latch uses: get(key, "text" | "json" | {type}), put(key, string, {expirationTtl |
 * expiration}), delete(key). Plain JavaScript: a wrapped binding must be a single ES module.
 */
class PropagatingKv {
  constructor(env) {
    this.inner = env.INNER;
    this.region = String(env.REGION);
    this.propagationMs = Number(env.PROPAGATION_MS);
  }

  prefix(key) {
    return `v:${key}:`;
  }

  async newestVisible(key) {
    const now = Date.now();
    let best;
    let cursor;
    do {
      const page = await this.inner.list({ prefix: this.prefix(key), cursor });
      for (const k of page.keys) {
        const m = k.metadata;
        if (!m) continue;
        const visibleAt = m.at + (m.region === this.region ? 0 : this.propagationMs);
        if (visibleAt > now) continue;
        if (!best || m.at > best.at || (m.at === best.at && k.name > best.name)) best = { ...m, name: k.name };
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    if (!best || best.deleted || (best.expiresAt !== null && best.expiresAt <= now)) return undefined;
    return best;
  }

  async get(key, typeOrOptions) {
    const type = typeof typeOrOptions === "string" ? typeOrOptions : (typeOrOptions?.type ?? "text");
    const version = await this.newestVisible(key);
    if (!version) return null;
    return this.inner.get(version.name, type);
  }

  async write(key, value, options, deleted) {
    const lag = Number((await this.inner.get(`ctl:lag:${this.region}`)) ?? "0");
    if (lag > 0) await new Promise((resolve) => setTimeout(resolve, lag));
    const at = Date.now();
    const expiresAt = options?.expirationTtl
      ? at + options.expirationTtl * 1000
      : options?.expiration
        ? options.expiration * 1000
        : null;
    const name = `${this.prefix(key)}${String(at).padStart(15, "0")}:${this.region}:${crypto.randomUUID()}`;
    // The version itself outlives its expiry by the propagation delay, so every region can still see that
    // it expired; the shared namespace drops it after that.
    const ttl = Math.max(60, Math.ceil(((expiresAt ?? at + 86_400_000) - at + this.propagationMs) / 1000) + 60);
    await this.inner.put(name, value, { expirationTtl: ttl, metadata: { at, region: this.region, expiresAt, deleted } });
  }

  put(key, value, options) {
    return this.write(key, value, options, false);
  }

  delete(key) {
    return this.write(key, "", undefined, true);
  }
}

export default function (env) {
  return new PropagatingKv(env);
}
