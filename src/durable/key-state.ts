import { DurableObject } from "cloudflare:workers";
import { decideRevision, type RevisionCheck } from "../lib/revision";

/**
 * One object per key (`idFromName("<workspaceId>:<keyId>")`). It holds the key's revocation revision; the
 * rate-limit windows and credits join it in later work. Storage: `revision` → number.
 */
export class KeyState extends DurableObject<Env> {
  private revision = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.revision = (await ctx.storage.get<number>("revision")) ?? 0;
    });
  }

  /**
   * Verify calls this with the revision of the record it holds (stale → reload from D1); every mutation of
   * the key calls it with the new revision after D1 has committed. The stored revision only moves forward.
   */
  async observe(revision: number): Promise<RevisionCheck> {
    if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError("revision must be a non-negative integer");
    const result = decideRevision(this.revision, revision);
    if (result.next !== this.revision) {
      this.revision = result.next;
      await this.ctx.storage.put("revision", result.next);
    }
    return result;
  }
}
