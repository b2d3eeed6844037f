/**
 * Revocation revisions. Every mutation of a key bumps its revision in D1 and tells the key's Durable Object;
 * a verify that reaches the object with a record older than the object's revision knows its cached record
 * is stale and reloads it from D1, so keys whose verifies go through the object see revocations at once.
 */
export type RevisionCheck = { stale: boolean; next: number };

/** `stored` is what the object knows; `seen` is the revision of the record the caller holds. */
export function decideRevision(stored: number, seen: number): RevisionCheck {
  return { stale: seen < stored, next: Math.max(stored, seen) };
}
