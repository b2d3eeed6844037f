/**
 * Statements for the named rate limits of a key or of an identity (table `ratelimits`, one owner column
 * set, unique per owner and name). Shared by KeyService and IdentityService.
 */
import { and, eq, notInArray } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { ratelimits } from "../db/schema";
import { newId } from "../lib/ids";

type Stmt = BatchItem<"sqlite">;

export type RatelimitInput = { name: string; limit: number; duration: number; autoApply: boolean };

export type RatelimitOwner = { keyId: string } | { identityId: string };

function ownerColumn(owner: RatelimitOwner) {
  return "keyId" in owner ? { column: ratelimits.keyId, id: owner.keyId } : { column: ratelimits.identityId, id: owner.identityId };
}

export function insertRatelimit(db: Db, workspaceId: string, owner: RatelimitOwner, rl: RatelimitInput, now: number) {
  return db.insert(ratelimits).values({
    id: newId("rl", now),
    workspaceId,
    ...owner,
    name: rl.name,
    limit: rl.limit,
    duration: rl.duration,
    autoApply: rl.autoApply,
    createdAt: now,
  });
}

/** Replaces the owner's limits by name: existing names keep their ids, names not sent are deleted. */
export function replaceRatelimits(db: Db, workspaceId: string, owner: RatelimitOwner, list: readonly RatelimitInput[], now: number): Stmt[] {
  const { column, id } = ownerColumn(owner);
  const ofOwner = and(eq(column, id), eq(ratelimits.workspaceId, workspaceId));
  const names = list.map((r) => r.name);
  return [
    db.delete(ratelimits).where(names.length > 0 ? and(ofOwner, notInArray(ratelimits.name, names)) : ofOwner),
    ...list.map((rl) =>
      insertRatelimit(db, workspaceId, owner, rl, now).onConflictDoUpdate({
        target: [column, ratelimits.name],
        set: { limit: rl.limit, duration: rl.duration, autoApply: rl.autoApply, updatedAt: now },
      }),
    ),
  ];
}
