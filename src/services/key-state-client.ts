/**
 * Worker-side client of the per-key Durable Object (`KeyState`, id `idFromName("<workspaceId>:<keyId>")`).
 *
 * Failure policy for the revision check: fail open. The record the caller holds came from D1 or from a
 * published KV entry at most one cache TTL plus KV propagation old, which is the documented revocation
 * bound anyway; refusing every verify of a key because its object is briefly unreachable would turn a
 * platform hiccup into an outage for that customer. The failure is logged.
 */
export interface KeyStateClient {
  /** True if the object knows a newer revision than `revision` (the caller's record is stale). */
  isStale(workspaceId: string, keyId: string, revision: number): Promise<boolean>;
  /** Tells the object about a committed mutation. */
  bump(workspaceId: string, keyId: string, revision: number): Promise<void>;
}

export function keyStateId(workspaceId: string, keyId: string): string {
  return `${workspaceId}:${keyId}`;
}

export class DurableKeyStateClient implements KeyStateClient {
  constructor(private readonly ns: Env["KEY_STATE"]) {}

  private stub(workspaceId: string, keyId: string) {
    return this.ns.get(this.ns.idFromName(keyStateId(workspaceId, keyId)));
  }

  async isStale(workspaceId: string, keyId: string, revision: number): Promise<boolean> {
    try {
      return (await this.stub(workspaceId, keyId).observe(revision)).stale;
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "key state check failed; using cached record", keyId, error: String(err) }));
      return false;
    }
  }

  /**
   * D1 and KV already hold the change when this runs, so a failure here only means verifies through the
   * object fall back to the ordinary bound (cache TTL + KV propagation): logged, not thrown.
   */
  async bump(workspaceId: string, keyId: string, revision: number): Promise<void> {
    try {
      await this.stub(workspaceId, keyId).observe(revision);
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "key state bump failed", keyId, error: String(err) }));
    }
  }
}
