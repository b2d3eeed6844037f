/**
 * keys.verifyKey: hash → record (isolate cache, KV, D1) → pure decision → Durable Object revision check for
 * keys whose verifies go through their object. Outcomes are data (HTTP 200 with `valid` and `code`).
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { keys } from "../db/schema";
import { hashKey } from "../lib/hash";
import { needsKeyState } from "../lib/record";
import { decideVerification, type Principal } from "../lib/verify";
import { shouldTouchLastUsed } from "./cache";
import type { EdgeRecords } from "./edge-records";
import type { KeyStateClient } from "./key-state-client";
import { toVerifyView, type VerifyView } from "./key-views";

export type VerifyServiceOptions = {
  db: Db;
  edge: EdgeRecords;
  keyState: KeyStateClient;
  now: () => number;
  waitUntil: (p: Promise<unknown>) => void;
};

export class VerifyService {
  constructor(private readonly o: VerifyServiceOptions) {}

  async verify(principal: Principal, key: string): Promise<VerifyView> {
    const hash = await hashKey(key);
    let record = await this.o.edge.lookup(hash);
    let decision = decideVerification(record, principal, this.o.now());
    // Only a positive answer needs the strong check: a stale record can wrongly admit, and the object's
    // revision tells us so. A stale refusal corrects itself within the ordinary bound.
    if (decision.valid && record && needsKeyState(record)) {
      if (await this.o.keyState.isStale(record.workspaceId, record.keyId, record.revision)) {
        record = await this.o.edge.publish(hash);
        decision = decideVerification(record, principal, this.o.now());
      }
    }
    if (decision.valid && record) this.touch(record.workspaceId, record.keyId);
    return toVerifyView(record, decision);
  }

  /** Debounced background write of `lastUsedAt`; never on the response path. */
  private touch(workspaceId: string, keyId: string): void {
    const now = this.o.now();
    if (!shouldTouchLastUsed(keyId, now)) return;
    this.o.waitUntil(
      this.o.db
        .update(keys)
        .set({ lastUsedAt: now })
        .where(and(eq(keys.id, keyId), eq(keys.workspaceId, workspaceId)))
        .run()
        .catch((err: unknown) => console.error(JSON.stringify({ level: "error", msg: "lastUsedAt write failed", keyId, error: String(err) }))),
    );
  }
}
