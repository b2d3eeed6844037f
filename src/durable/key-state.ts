import { DurableObject } from "cloudflare:workers";
import { CreditChangeSchema, CreditReadSchema, KeyVerifyInputSchema } from "../lib/key-state-protocol";
import { decideKeyVerify, type KeyObjectState, type KeyVerifyAnswer } from "../lib/key-verify";
import { pruneWindows } from "../lib/ratelimit";
import { decideRevision, type RevisionCheck } from "../lib/revision";
import { applyCreditOperation, applyRefill, patchCredits, type CreditState } from "../lib/usage";

/** How long after a balance change the D1 mirror (`keys.credits_remaining`) is brought up to date. */
export const CREDITS_MIRROR_DELAY_MS = 10_000;

type Ident = { workspaceId: string; keyId: string };

/**
 * One object per key (`idFromName("<workspaceId>:<keyId>")`): its revocation revision, its rate-limit
 * windows and its credit balance, which is authoritative once the object exists. Storage keys:
 * `revision` → number, `credits` → CreditState | null, `windows` → Record<name, WindowState>,
 * `ident` → {workspaceId, keyId}. Stale windows are dropped on every write; an alarm mirrors the balance
 * to D1 at most `CREDITS_MIRROR_DELAY_MS` after it changes.
 */
export class KeyState extends DurableObject<Env> {
  private state: KeyObjectState = { revision: 0, credits: undefined, windows: {} };
  private ident: Ident | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<unknown>(["revision", "credits", "windows", "ident"]);
      this.state = {
        revision: (stored.get("revision") as number | undefined) ?? 0,
        credits: stored.get("credits") as CreditState | null | undefined,
        windows: (stored.get("windows") as KeyObjectState["windows"] | undefined) ?? {},
      };
      this.ident = stored.get("ident") as Ident | undefined;
    });
  }

  /** One verify: revision check, limits all-or-nothing, then credits. */
  async verify(input: unknown): Promise<KeyVerifyAnswer> {
    const req = KeyVerifyInputSchema.parse(input);
    const outcome = decideKeyVerify(this.state, req);
    if (outcome.kind === "stale") return outcome;
    await this.save(outcome.next, req);
    // The new state stays here: only the answer crosses the RPC boundary.
    const { next: _next, ...answer } = outcome;
    return answer;
  }

  /** Verify's revision check alone, and every mutation's notice of its new revision. */
  async observe(revision: number): Promise<RevisionCheck> {
    if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError("revision must be a non-negative integer");
    const result = decideRevision(this.state.revision, revision);
    if (result.next !== this.state.revision) {
      this.state = { ...this.state, revision: result.next };
      await this.ctx.storage.put("revision", result.next);
    }
    return result;
  }

  /** Changes the balance atomically with respect to verifies; returns the new state (null = unlimited). */
  async changeCredits(input: unknown): Promise<CreditState | null> {
    const req = CreditChangeSchema.parse(input);
    const current = this.state.credits === undefined ? req.initial : this.state.credits;
    const change = req.change;
    const next =
      change.kind === "replace"
        ? change.state
        : change.kind === "patch"
          ? patchCredits(current, change.patch, req.now)
          : applyCreditOperation(current, change.op, req.now);
    await this.save({ ...this.state, credits: next }, req);
    return next;
  }

  /** The true balance now (refills applied), for reads. */
  async readCredits(input: unknown): Promise<CreditState | null> {
    const req = CreditReadSchema.parse(input);
    const credits = this.state.credits === undefined ? req.initial : this.state.credits;
    return credits ? applyRefill(credits, req.now) : null;
  }

  /** Mirrors the balance to D1 for listings (a failed write throws, and the runtime retries the alarm). */
  override async alarm(): Promise<void> {
    const { credits } = this.state;
    if (!credits || !this.ident) return;
    await this.env.DB.prepare("UPDATE keys SET credits_remaining = ?, last_refill_at = ? WHERE id = ? AND workspace_id = ?")
      .bind(credits.remaining, credits.lastRefillAt, this.ident.keyId, this.ident.workspaceId)
      .run();
  }

  /** Stores only what changed (every verify is a write; the smaller, the cheaper). */
  private async save(next: KeyObjectState, ident: Ident & { now: number }): Promise<void> {
    const before = this.state;
    this.state = { ...next, windows: next.windows === before.windows ? before.windows : pruneWindows(next.windows, ident.now) };
    const entries: Record<string, unknown> = {};
    if (this.state.revision !== before.revision) entries.revision = this.state.revision;
    if (this.state.windows !== before.windows) entries.windows = this.state.windows;
    const creditsChanged = next.credits !== before.credits && next.credits !== undefined;
    if (creditsChanged) entries.credits = next.credits;
    if (!this.ident) {
      this.ident = { workspaceId: ident.workspaceId, keyId: ident.keyId };
      entries.ident = this.ident;
    }
    if (Object.keys(entries).length > 0) await this.ctx.storage.put(entries);
    if (creditsChanged && (await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(ident.now + CREDITS_MIRROR_DELAY_MS);
    }
  }
}
