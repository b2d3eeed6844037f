/**
 * Fan-out after a change that affects many keys at once (an API deleted, an identity changed, a
 * permission or role changed): the D1 batch that makes the change also bumps every affected key's revision
 * and reads the keys back with `affectedKeyColumns`; then `republishKeys` tells each key's Durable Object
 * the new revision (where verifies go through it) and rewrites its edge record, 25 keys at a time.
 */
import { sql } from "drizzle-orm";
import { keys } from "../db/schema";
import type { EdgeRecords } from "./edge-records";
import type { KeyStateClient } from "./key-state-client";

/** KV writes (and object notices) run this many at a time. */
const BULK_CONCURRENCY = 25;

export type AffectedKey = { id: string; hash: string; revision: number; hasState: number | boolean };

/**
 * The columns `republishKeys` needs. `hasState`: verifies of the key go through its object (credits,
 * key-level limits, or limits of its identity).
 */
export const affectedKeyColumns = {
  id: keys.id,
  hash: keys.hash,
  revision: keys.revision,
  hasState: sql<number>`(${keys.creditsRemaining} IS NOT NULL OR EXISTS (SELECT 1 FROM ratelimits r WHERE r.key_id = ${keys.id} OR (r.identity_id IS NOT NULL AND r.identity_id = ${keys.identityId})))`.as(
    "has_state",
  ),
};

/** `SET revision = revision + 1`: every mutation that can change a verify answer adds exactly one. */
export const nextRevision = sql`${keys.revision} + 1` as unknown as number;

export async function republishKeys(
  deps: { edge: EdgeRecords; keyState: KeyStateClient },
  workspaceId: string,
  affected: readonly AffectedKey[],
  opts: { tombstone?: boolean; bumpAll?: boolean } = {},
): Promise<void> {
  for (let i = 0; i < affected.length; i += BULK_CONCURRENCY) {
    await Promise.all(
      affected.slice(i, i + BULK_CONCURRENCY).map(async (k) => {
        // The object first: keys whose verifies go through it see the change at once even if KV lags.
        if (opts.bumpAll || k.hasState) await deps.keyState.bump({ workspaceId, keyId: k.id }, k.revision);
        if (opts.tombstone) await deps.edge.tombstone(k.hash, k.revision);
        else await deps.edge.publish(k.hash, k.revision);
      }),
    );
  }
}
