/**
 * Prefixed ids: `<prefix>_` + 8 base62 characters of the millisecond clock + 12 random base62 characters.
 * The time part (good for some 6,900 years) makes ids sort by creation (pagination walks ids in order, so lists come oldest first);
 * the random part (about 71 bits) makes them unguessable and collision-free.
 */
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export type IdPrefix = "ws" | "api" | "ks" | "key" | "id" | "rl" | "rlns" | "rlor" | "dek" | "perm" | "role" | "req" | "log" | "cor";

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  let time = "";
  let t = Math.max(0, Math.floor(now));
  for (let i = 0; i < 8; i++) {
    time = BASE62[t % 62] + time;
    t = Math.floor(t / 62);
  }
  // 248 = 4 * 62: rejecting bytes >= 248 keeps every character equally likely.
  let random = "";
  while (random.length < 12) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b < 248 && random.length < 12) random += BASE62[b % 62];
    }
  }
  return `${prefix}_${time}${random}`;
}
