import { DurableObject } from "cloudflare:workers";
import { CreditChangeSchema, CreditReadSchema, parseKeyVerifyInput } from "../lib/key-state-protocol";
import { decideKeyVerify, type KeyObjectState, type KeyVerifyAnswer } from "../lib/key-verify";
import { pruneWindows } from "../lib/ratelimit";
import { decideRevision, type RevisionCheck } from "../lib/revision";
import { applyCreditOperation, applyRefill, patchCredits, type CreditState } from "../lib/usage";
import { AlarmSlot } from "./alarm-slot";

/** How long after a balance change the D1 mirror (`keys.credits_remaining`) is brought up to date. */
export const CREDITS_MIRROR_DELAY_MS = 10_000;

/**
 * How long after they change rate-limit windows reach storage. Decisions are made from memory; this only
 * bounds what an abrupt restart (a deploy, a machine failure) can forget. See docs/storage.md.
 */
export const WINDOW_FLUSH_MS = 1_000;

type Ident = { workspaceId: string; keyId: string };

/**
 * One object per key (`idFromName("<workspaceId>:<keyId>")`): its revocation revision, its rate-limit
 * windows and its credit balance, which is authoritative once the object exists. Storage keys:
 * `revision` → number, `credits` → CreditState | null, `windows` → Record<name, WindowState>,
 * `ident` → {workspaceId, keyId}.
 *
 * Every decision is made from the state in memory, one call at a time. A new revision and every balance
 * change are stored before the answer leaves (the output gate holds it), so a credit once spent stays spent.
 * Windows are stored by the alarm at most `WINDOW_FLUSH_MS` after they change, pruned of stale entries, so a
 * busy key costs one storage write a second instead of one per verify. The same alarm mirrors the balance to
 * D1 at most `CREDITS_MIRROR_DELAY_MS` after it changes.
 */
export class KeyState extends DurableObject<Env> {
  private state: KeyObjectState = { revision: 0, credits: undefined, windows: {} };
  private ident: Ident | undefined;
  private alarms!: AlarmSlot;
  /** Windows changed since they were last stored. */
  private windowsDirty = false;
  /** When the balance is due to be mirrored to D1 (null: it is up to date). */
  private mirrorDue: number | null = null;
  /** The latest request time seen: the clock windows are pruned by. */
  private lastNow = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const [stored, alarm] = await Promise.all([ctx.storage.get<unknown>(["revision", "credits", "windows", "ident"]), ctx.storage.getAlarm()]);
      this.state = {
        revision: (stored.get("revision") as number | undefined) ?? 0,
        credits: stored.get("credits") as CreditState | null | undefined,
        windows: (stored.get("windows") as KeyObjectState["windows"] | undefined) ?? {},
      };
      this.ident = stored.get("ident") as Ident | undefined;
      this.alarms = new AlarmSlot(ctx.storage, alarm);
      // A pending alarm of a restarted object may owe D1 the balance: mirror it when it runs.
      this.mirrorDue = alarm !== null && this.state.credits ? alarm : null;
    });
  }

  /**
   * One verify: revision check, limits all-or-nothing, then credits. Input and answer are JSON text
   * (`KeyVerifyWire` in, `KeyVerifyAnswer` out; see `encodeKeyVerifyInput`).
   */
  verify(input: unknown): string | Promise<string> {
    const req = parseKeyVerifyInput(input);
    const outcome = decideKeyVerify(this.state, req);
    if (outcome.kind === "stale") return JSON.stringify(outcome);
    const saving = this.save(outcome.next, req);
    // The new state stays here: only the answer crosses the RPC boundary.
    const { next: _next, ...answer } = outcome;
    const text = JSON.stringify(answer satisfies KeyVerifyAnswer);
    // Most verifies only count in memory: they answer at once, without a promise to wait for.
    return saving ? saving.then(() => text) : text;
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

  /**
   * Stores the windows if they changed, then mirrors the balance to D1 if that is due. A failed write
   * throws, and the runtime retries the alarm.
   */
  override async alarm(): Promise<void> {
    const firedFor = this.alarms.fired();
    if (this.windowsDirty) await this.flushWindows();
    if (this.mirrorDue === null) return;
    if (firedFor !== null && this.mirrorDue > firedFor) {
      await this.alarms.by(this.mirrorDue);
      return;
    }
    const { credits } = this.state;
    if (credits && this.ident) {
      await this.env.DB.prepare("UPDATE keys SET credits_remaining = ?, last_refill_at = ? WHERE id = ? AND workspace_id = ?")
        .bind(credits.remaining, credits.lastRefillAt, this.ident.keyId, this.ident.workspaceId)
        .run();
    }
    // Verifies run while D1 answers (only storage calls hold them back): one that changed the balance in
    // the meantime found the mirror still due and scheduled nothing, so it is scheduled here.
    if (this.state.credits === credits) this.mirrorDue = null;
    else {
      this.mirrorDue = this.lastNow + CREDITS_MIRROR_DELAY_MS;
      await this.alarms.by(this.mirrorDue);
    }
  }

  /**
   * Adopts `next`. A new revision, a changed balance and the object's first identity are written before the
   * answer (with the windows, if a write happens anyway); windows alone are left to the alarm.
   */
  private save(next: KeyObjectState, req: Ident & { now: number }): Promise<void> | undefined {
    const before = this.state;
    this.state = next;
    if (req.now > this.lastNow) this.lastNow = req.now;
    if (next.windows !== before.windows) this.windowsDirty = true;
    const entries: Record<string, unknown> = {};
    if (next.revision !== before.revision) entries.revision = next.revision;
    const creditsChanged = next.credits !== before.credits && next.credits !== undefined;
    if (creditsChanged) entries.credits = next.credits;
    if (!this.ident) {
      this.ident = { workspaceId: req.workspaceId, keyId: req.keyId };
      entries.ident = this.ident;
    }
    const writes: Promise<void>[] = [];
    if (Object.keys(entries).length > 0) {
      if (this.windowsDirty) entries.windows = this.takeWindows();
      writes.push(this.ctx.storage.put(entries));
    }
    if (creditsChanged && this.mirrorDue === null) {
      this.mirrorDue = req.now + CREDITS_MIRROR_DELAY_MS;
      writes.push(this.alarms.by(this.mirrorDue));
    }
    if (this.windowsDirty && this.alarms.needed(req.now + WINDOW_FLUSH_MS)) writes.push(this.alarms.by(req.now + WINDOW_FLUSH_MS));
    return writes.length === 0 ? undefined : Promise.all(writes).then(() => undefined);
  }

  /** The windows to store, pruned by the latest request time; they count as stored from here on. */
  private takeWindows(): KeyObjectState["windows"] {
    this.state = { ...this.state, windows: pruneWindows(this.state.windows, this.lastNow) };
    this.windowsDirty = false;
    return this.state.windows;
  }

  private async flushWindows(): Promise<void> {
    try {
      await this.ctx.storage.put("windows", this.takeWindows());
    } catch (err) {
      this.windowsDirty = true;
      throw err;
    }
  }
}
