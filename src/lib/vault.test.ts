import { describe, expect, it } from "vitest";
import {
  MAX_PLAINTEXT_BYTES,
  VAULT_ID_PATTERN,
  decryptKey,
  encryptKey,
  generateDek,
  importDek,
  importMasterKeys,
  loadMasterKeys,
  parseCiphertext,
  parseMasterKeys,
  parseWrappedDek,
  rewrapDek,
  unwrapDek,
  wrapDek,
  type DekContext,
  type KekRing,
  type KeyContext,
  type VaultResult,
} from "./vault";

/** A small seeded PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (next: () => number, lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const fromB64url = (text: string) => new Uint8Array(Buffer.from(text, "base64url"));
const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const masterEntry = (id: string, raw = randomBytes(32)) => `${id}:${b64(raw)}`;

/** Replaces the character at `i` with a different one: another base64url character, or `A` for a separator. */
function flipChar(text: string, i: number): string {
  const c = text[i]!;
  const k = B64URL.indexOf(c);
  const replacement = k < 0 ? (c === "A" ? "B" : "A") : B64URL[(k + 1 + (i % 63)) % 64]!;
  return text.slice(0, i) + replacement + text.slice(i + 1);
}

function value<T>(r: VaultResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}
function errorOf<T>(r: VaultResult<T>) {
  if (r.ok) throw new Error("expected an error");
  return r.error;
}
function parseError(secret: string | undefined): string {
  const r = parseMasterKeys(secret);
  if (r.ok) throw new Error(`expected ${JSON.stringify(secret)} to be rejected`);
  return r.error;
}

async function ring(...ids: string[]): Promise<{ ring: KekRing; secret: string }> {
  const secret = ids.map((id) => masterEntry(id)).join(",");
  return { ring: value(await loadMasterKeys(secret)), secret };
}

/** A workspace with a fresh DEK wrapped under the ring's primary KEK, as the service will store it. */
async function workspaceDek(r: KekRing, workspaceId = `ws_${b64url(randomBytes(9))}`) {
  const { id: dekId, raw } = generateDek();
  const ctx: DekContext = { workspaceId, dekId };
  const wrapped = await wrapDek(raw, r.keys.get(r.primaryId)!, r.primaryId, ctx);
  const dek = await importDek(raw);
  return { workspaceId, dekId, raw, ctx, wrapped, dek };
}

const key = () => `sk_live_${b64url(randomBytes(24))}`;

describe("parseMasterKeys", () => {
  it("parses one or more keys in order, tolerating whitespace around entries", () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const r = parseMasterKeys(`  kek_2025:${b64(a)} ,\n\tkek-old_1:${b64(b)}  `);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.keys.map((k) => k.id)).toEqual(["kek_2025", "kek-old_1"]);
    expect([...r.keys[0]!.raw]).toEqual([...a]);
    expect([...r.keys[1]!.raw]).toEqual([...b]);
  });

  it("accepts standard base64 with or without padding, and 64-character ids", () => {
    const raw = randomBytes(32);
    const unpadded = b64(raw).replace(/=+$/, "");
    expect(parseMasterKeys(`${"a".repeat(64)}:${unpadded}`).ok).toBe(true);
  });

  it("names each problem without echoing key material", () => {
    const raw = randomBytes(32);
    const good = b64(raw);
    const short = b64(randomBytes(16));
    const long = b64(randomBytes(33));
    const cases: [string | undefined, RegExp][] = [
      [undefined, /missing/],
      ["", /missing/],
      ["  \n ", /missing/],
      [good, /entry 1 is malformed/],
      [`k1:${good},${good}`, /entry 2 is malformed/],
      [`k1:${good},`, /entry 2 is malformed/],
      [`k1:${good},,k2:${good}`, /entry 2 is malformed/],
      [`:${good}`, /entry 1 is malformed: the id/],
      [`a b:${good}`, /entry 1 is malformed: the id/],
      [`a.b:${good}`, /entry 1 is malformed: the id/],
      [`k1:${good},${"a".repeat(65)}:${good}`, /entry 2 is malformed: the id/],
      [`k1:${good.slice(0, 20)}*${good.slice(21)}`, /key 1 \(id "k1"\) is not valid base64/],
      [`k1:${good.slice(0, 10)}-${good.slice(11)}`, /key 1 \(id "k1"\) is not valid base64/],
      [`k1:${good}=`, /key 1 \(id "k1"\) is not valid base64/],
      [`k1:${good.slice(0, 20)} ${good.slice(20)}`, /key 1 \(id "k1"\) is not valid base64/],
      [`k1:${good},k2:${short}`, /key 2 \(id "k2"\) is 16 bytes, expected 32/],
      [`k1:${long}`, /key 1 \(id "k1"\) is 33 bytes, expected 32/],
      ["k1:", /key 1 \(id "k1"\) is 0 bytes/],
      [`k1:${good},k2:${b64(randomBytes(32))},k1:${b64(randomBytes(32))}`, /key 3 has a duplicate id "k1"/],
    ];
    for (const [secret, expected] of cases) {
      const message = parseError(secret);
      expect(message, String(secret)).toMatch(expected);
      for (const material of [good, short, long, good.slice(0, 12), b64url(raw).slice(0, 12)]) {
        expect(message).not.toContain(material);
      }
    }
  });
});

describe("loadMasterKeys and importMasterKeys", () => {
  it("imports non-extractable AES-GCM keys by id, the first one primary", async () => {
    const { ring: r } = await ring("new", "old");
    expect(r.primaryId).toBe("new");
    expect([...r.keys.keys()]).toEqual(["new", "old"]);
    for (const k of r.keys.values()) {
      expect(k.extractable).toBe(false);
      expect(k.algorithm.name).toBe("AES-GCM");
      expect((k.algorithm as AesKeyAlgorithm).length).toBe(256);
      expect([...k.usages].sort()).toEqual(["decrypt", "encrypt"]);
    }
  });

  it("turns a bad secret into a bad_config error with the same message", async () => {
    const e = errorOf(await loadMasterKeys("k1:abc"));
    expect(e.code).toBe("bad_config");
    expect(e.message).toBe(parseError("k1:abc"));
    expect(errorOf(await loadMasterKeys(undefined)).code).toBe("bad_config");
  });

  it("refuses an empty list", async () => {
    await expect(importMasterKeys([])).rejects.toThrow(TypeError);
  });
});

describe("DEKs: generate, wrap, unwrap", () => {
  it("generates distinct 32-byte DEKs with dek_ ids", () => {
    const a = generateDek();
    const b = generateDek();
    expect(a.raw.length).toBe(32);
    expect(a.id).toMatch(/^dek_[0-9a-f]{32}$/);
    expect(a.id).toMatch(VAULT_ID_PATTERN);
    expect(a.id).not.toBe(b.id);
    expect(b64(a.raw)).not.toBe(b64(b.raw));
  });

  it("round-trips: data encrypted with the fresh DEK decrypts with the unwrapped one", async () => {
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    expect(w.wrapped).toMatch(/^v1\.kek1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{64}$/);
    expect(w.wrapped).not.toContain(b64url(w.raw).slice(0, 16));
    expect(value(parseWrappedDek(w.wrapped)).id).toBe("kek1");
    const dek = value(await unwrapDek(w.wrapped, r.keys, w.ctx));
    expect(dek.extractable).toBe(false);
    const kctx = { workspaceId: w.workspaceId, keyId: "key_1" };
    const plaintext = key();
    const ct = await encryptKey(plaintext, w.dek, w.dekId, kctx);
    expect(value(await decryptKey(ct, new Map([[w.dekId, dek]]), kctx))).toBe(plaintext);
  });

  it("binds a wrapped DEK to its workspace and id", async () => {
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    expect(errorOf(await unwrapDek(w.wrapped, r.keys, { ...w.ctx, workspaceId: "ws_other" })).code).toBe("decrypt_failed");
    expect(errorOf(await unwrapDek(w.wrapped, r.keys, { ...w.ctx, dekId: generateDek().id })).code).toBe("decrypt_failed");
  });

  it("reports an unknown KEK by id, and a wrong KEK with the same id as an authentication failure", async () => {
    const { ring: r } = await ring("kek1");
    const { ring: other } = await ring("kek2");
    const { ring: impostor } = await ring("kek1");
    const w = await workspaceDek(r);
    const e = errorOf(await unwrapDek(w.wrapped, other.keys, w.ctx));
    expect(e.code).toBe("unknown_kek");
    expect(e.message).toContain("kek1");
    expect(errorOf(await unwrapDek(w.wrapped, impostor.keys, w.ctx)).code).toBe("decrypt_failed");
  });

  it("fails on any changed character, and on a data ciphertext given as a wrapped DEK", async () => {
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    for (let i = 0; i < w.wrapped.length; i++) {
      const r2 = await unwrapDek(flipChar(w.wrapped, i), r.keys, w.ctx);
      expect(r2.ok, `position ${i}`).toBe(false);
    }
    const ct = await encryptKey(key(), w.dek, w.dekId, { workspaceId: w.workspaceId, keyId: "key_1" });
    expect(errorOf(await unwrapDek(ct, r.keys, w.ctx)).code).toBe("malformed");
  });

  it("throws on caller bugs only", async () => {
    const { ring: r } = await ring("kek1");
    const kek = r.keys.get("kek1")!;
    const ctx = { workspaceId: "ws_1", dekId: "dek_1" };
    await expect(wrapDek(randomBytes(16), kek, "kek1", ctx)).rejects.toThrow(TypeError);
    await expect(wrapDek(randomBytes(32), kek, "kek.1", ctx)).rejects.toThrow(TypeError);
    await expect(wrapDek(randomBytes(32), kek, "kek1", { ...ctx, workspaceId: "ws|1" })).rejects.toThrow(TypeError);
    await expect(wrapDek(randomBytes(32), kek, "kek1", { ...ctx, dekId: "" })).rejects.toThrow(TypeError);
  });
});

describe("rotation", () => {
  it("re-wraps under the new primary, after which the old KEK can go and old data still decrypts", async () => {
    const a = masterEntry("kek_a");
    const b = masterEntry("kek_b");
    const before = value(await loadMasterKeys(a));
    const w = await workspaceDek(before);
    const kctx = { workspaceId: w.workspaceId, keyId: "key_1" };
    const plaintext = key();
    const ct = await encryptKey(plaintext, w.dek, w.dekId, kctx);

    const during = value(await loadMasterKeys(`${b},${a}`));
    expect(during.primaryId).toBe("kek_b");
    const rewrapped = value(await rewrapDek(w.wrapped, during, w.ctx));
    expect(rewrapped.changed).toBe(true);
    expect(rewrapped.kekId).toBe("kek_b");
    expect(rewrapped.wrapped.startsWith("v1.kek_b.")).toBe(true);
    // Idempotent: a second run finds nothing to do.
    const again = value(await rewrapDek(rewrapped.wrapped, during, w.ctx));
    expect(again).toEqual({ wrapped: rewrapped.wrapped, kekId: "kek_b", changed: false });

    const after = value(await loadMasterKeys(b));
    const dek = value(await unwrapDek(rewrapped.wrapped, after.keys, w.ctx));
    expect(value(await decryptKey(ct, new Map([[w.dekId, dek]]), kctx))).toBe(plaintext);
    // The old wrapped form is unusable once kek_a is gone.
    expect(errorOf(await unwrapDek(w.wrapped, after.keys, w.ctx)).code).toBe("unknown_kek");
  });

  it("passes unwrap errors through and keeps the workspace binding", async () => {
    const { ring: r } = await ring("kek_a");
    const w = await workspaceDek(r);
    const { ring: other } = await ring("kek_b");
    expect(errorOf(await rewrapDek(w.wrapped, other, w.ctx)).code).toBe("unknown_kek");
    expect(errorOf(await rewrapDek(w.wrapped, r, { ...w.ctx, workspaceId: "ws_x" })).code).toBe("decrypt_failed");
    expect(errorOf(await rewrapDek("nope", r, w.ctx)).code).toBe("malformed");
    const broken: KekRing = { primaryId: "missing", keys: r.keys };
    expect(errorOf(await rewrapDek(w.wrapped, broken, w.ctx)).code).toBe("bad_config");
  });
});

describe("encryptKey and decryptKey", () => {
  async function setup() {
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    const kctx: KeyContext = { workspaceId: w.workspaceId, keyId: "key_abc" };
    return { ...w, kctx, deks: new Map([[w.dekId, w.dek]]) };
  }

  it("round-trips in the v1 format, naming the DEK", async () => {
    const s = await setup();
    for (const plaintext of [key(), "", "x", "ключ-🔑", "\uFEFFbom-first", "a".repeat(512), "é".repeat(2048)]) {
      const ct = await encryptKey(plaintext, s.dek, s.dekId, s.kctx);
      expect(ct).toMatch(new RegExp(`^v1\\.${s.dekId}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]{22,}$`));
      const parsed = value(parseCiphertext(ct));
      expect(parsed.id).toBe(s.dekId);
      expect(parsed.nonce.length).toBe(12);
      expect(parsed.sealed.length).toBe(new TextEncoder().encode(plaintext).length + 16);
      expect(value(await decryptKey(ct, s.deks, s.kctx))).toBe(plaintext);
      expect(value(await decryptKey(ct, async (id) => s.deks.get(id), s.kctx))).toBe(plaintext);
    }
  });

  it("binds the ciphertext to its key and workspace (AAD)", async () => {
    const s = await setup();
    const ct = await encryptKey(key(), s.dek, s.dekId, s.kctx);
    for (const ctx of [
      { ...s.kctx, keyId: "key_other" },
      { ...s.kctx, workspaceId: "ws_other" },
      { workspaceId: s.kctx.keyId, keyId: s.kctx.workspaceId },
    ]) {
      expect(errorOf(await decryptKey(ct, s.deks, ctx)).code).toBe("decrypt_failed");
    }
  });

  it("reports an unknown DEK, and a wrong DEK under the same id as an authentication failure", async () => {
    const s = await setup();
    const ct = await encryptKey(key(), s.dek, s.dekId, s.kctx);
    const e = errorOf(await decryptKey(ct, new Map(), s.kctx));
    expect(e.code).toBe("unknown_dek");
    expect(e.message).toContain(s.dekId);
    expect(errorOf(await decryptKey(ct, () => undefined, s.kctx)).code).toBe("unknown_dek");
    const wrong = await importDek(generateDek().raw);
    expect(errorOf(await decryptKey(ct, new Map([[s.dekId, wrong]]), s.kctx)).code).toBe("decrypt_failed");
  });

  it("fails when any byte of the nonce, the ciphertext or the tag changes", async () => {
    const s = await setup();
    const plaintext = key();
    const ct = await encryptKey(plaintext, s.dek, s.dekId, s.kctx);
    const [v, id, nonceText, sealedText] = ct.split(".") as [string, string, string, string];
    const nonce = fromB64url(nonceText);
    const sealed = fromB64url(sealedText);
    const tagStart = sealed.length - 16;
    for (let i = 0; i < nonce.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const n = nonce.slice();
        n[i]! ^= bit;
        const r = await decryptKey(`${v}.${id}.${b64url(n)}.${sealedText}`, s.deks, s.kctx);
        expect(errorOf(r).code, `nonce byte ${i}`).toBe("decrypt_failed");
      }
    }
    for (let i = 0; i < sealed.length; i++) {
      const c = sealed.slice();
      c[i]! ^= 1 << (i % 8);
      const r = await decryptKey(`${v}.${id}.${nonceText}.${b64url(c)}`, s.deks, s.kctx);
      expect(errorOf(r).code, `${i < tagStart ? "ciphertext" : "tag"} byte ${i}`).toBe("decrypt_failed");
    }
  });

  it("fails when any character of the text changes", async () => {
    const s = await setup();
    const ct = await encryptKey(key(), s.dek, s.dekId, s.kctx);
    for (let i = 0; i < ct.length; i++) {
      const r = await decryptKey(flipChar(ct, i), s.deks, s.kctx);
      expect(r.ok, `position ${i}`).toBe(false);
    }
    // Truncated and extended texts, too.
    for (let len = 0; len < ct.length; len++) expect((await decryptKey(ct.slice(0, len), s.deks, s.kctx)).ok).toBe(false);
    expect((await decryptKey(`${ct}A`, s.deks, s.kctx)).ok).toBe(false);
    expect((await decryptKey(`${ct}AA`, s.deks, s.kctx)).ok).toBe(false);
  });

  it("uses a fresh nonce every time and never shows the plaintext", async () => {
    const s = await setup();
    const plaintext = key();
    const nonces = new Set<string>();
    const texts = new Set<string>();
    const plainB64 = b64url(new TextEncoder().encode(plaintext));
    for (let i = 0; i < 1000; i++) {
      const ct = await encryptKey(plaintext, s.dek, s.dekId, s.kctx);
      nonces.add(ct.split(".")[2]!);
      texts.add(ct);
      expect(ct).not.toContain(plaintext);
      expect(ct).not.toContain(plainB64.slice(0, 16));
      expect(Buffer.from(value(parseCiphertext(ct)).sealed).includes(Buffer.from(plaintext))).toBe(false);
    }
    expect(nonces.size).toBe(1000);
    expect(texts.size).toBe(1000);
  });

  it("throws on caller bugs only", async () => {
    const s = await setup();
    await expect(encryptKey("k", s.dek, "dek.1", s.kctx)).rejects.toThrow(TypeError);
    await expect(encryptKey("k", s.dek, s.dekId, { ...s.kctx, keyId: "a|b" })).rejects.toThrow(TypeError);
    await expect(encryptKey("k", s.dek, s.dekId, { ...s.kctx, workspaceId: "" })).rejects.toThrow(TypeError);
    await expect(encryptKey("bad\uD800", s.dek, s.dekId, s.kctx)).rejects.toThrow(TypeError);
    await expect(encryptKey("a".repeat(MAX_PLAINTEXT_BYTES + 1), s.dek, s.dekId, s.kctx)).rejects.toThrow(TypeError);
    expect(await encryptKey("a".repeat(MAX_PLAINTEXT_BYTES), s.dek, s.dekId, s.kctx)).toMatch(/^v1\./);
  });

  it("never puts plaintext or key material in an error message", async () => {
    const s = await setup();
    const plaintext = key();
    const ct = await encryptKey(plaintext, s.dek, s.dekId, s.kctx);
    const errors: VaultResult<unknown>[] = [
      await decryptKey(ct, s.deks, { ...s.kctx, keyId: "key_x" }),
      await decryptKey(ct, new Map(), s.kctx),
      await decryptKey(flipChar(ct, ct.length - 3), s.deks, s.kctx),
      await decryptKey(`${ct}.x`, s.deks, s.kctx),
      await unwrapDek(flipChar(s.wrapped, s.wrapped.length - 3), new Map(), s.ctx),
    ];
    for (const r of errors) {
      const { message } = errorOf(r);
      expect(message).not.toContain(plaintext);
      expect(message).not.toContain(ct.split(".")[3]!.slice(0, 8));
      expect(message).not.toContain(b64url(s.raw).slice(0, 8));
    }
  });
});

describe("parseCiphertext", () => {
  const nonce = b64url(new Uint8Array(12));
  const tag = b64url(new Uint8Array(16));
  const ok = `v1.dek_1.${nonce}.${tag}`;

  it("accepts the smallest valid text (empty plaintext: just the tag)", () => {
    expect(value(parseCiphertext(ok)).id).toBe("dek_1");
  });

  it("rejects anything else as malformed", () => {
    const cases = [
      "",
      "v1",
      `v1.dek_1.${nonce}`,
      `v1.dek_1.${nonce}.${tag}.`,
      `v1.dek_1.${nonce}.${tag}.extra`,
      `v2.dek_1.${nonce}.${tag}`,
      `V1.dek_1.${nonce}.${tag}`,
      `.dek_1.${nonce}.${tag}`,
      `v1..${nonce}.${tag}`,
      `v1.dek 1.${nonce}.${tag}`,
      `v1.dek|1.${nonce}.${tag}`,
      `v1.${"d".repeat(65)}.${nonce}.${tag}`,
      `v1.dek_1..${tag}`,
      `v1.dek_1.${nonce}.`,
      `v1.dek_1.${b64url(new Uint8Array(11))}.${tag}`,
      `v1.dek_1.${b64url(new Uint8Array(13))}.${tag}`,
      `v1.dek_1.${nonce}.${b64url(new Uint8Array(15))}`,
      `v1.dek_1.${nonce}.${b64url(new Uint8Array(MAX_PLAINTEXT_BYTES + 17))}`,
      `v1.dek_1.${nonce}.${tag}=`,
      `v1.dek_1.${nonce}.${tag}==`,
      `v1.dek_1.${nonce}.${Buffer.from(new Uint8Array(16).fill(0xfb)).toString("base64")}`,
      `v1.dek_1.${nonce}.${tag.slice(0, -1)}B`, // non-canonical: unused trailing bits set
      `v1.dek_1.${nonce}.${tag.slice(0, -1)}`, // a length no encoding has
      `v1.dek_1.${nonce}.${tag.slice(0, 10)} ${tag.slice(10)}`,
      ` ${ok}`,
      `${ok}\n`,
      `v1.dek_1.${nonce}.${tag.slice(0, 10)}é${tag.slice(11)}`,
      "x".repeat(100_000),
    ];
    for (const text of cases) {
      expect(errorOf(parseCiphertext(text)).code, JSON.stringify(text.slice(0, 80))).toBe("malformed");
    }
  });

  it("tells a wrapped DEK from a data ciphertext by size", () => {
    expect(parseWrappedDek(ok).ok).toBe(false);
    expect(parseWrappedDek(`v1.kek.${nonce}.${b64url(new Uint8Array(48))}`).ok).toBe(true);
    expect(parseWrappedDek(`v1.kek.${nonce}.${b64url(new Uint8Array(49))}`).ok).toBe(false);
  });
});

describe("generated", () => {
  it("round-trips random plaintexts of 1..512 characters", async () => {
    const next = rng(0x5eed);
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    const deks = new Map([[w.dekId, w.dek]]);
    for (let n = 0; n < 300; n++) {
      const length = int(next, 1, 512);
      let plaintext = "";
      while (plaintext.length < length) {
        const kind = next();
        // Mostly ASCII, some BMP, some astral code points (never lone surrogates).
        const cp = kind < 0.7 ? int(next, 0, 0x7f) : kind < 0.9 ? int(next, 0x80, 0xd7ff) : int(next, 0x10000, 0x10ffff);
        plaintext += String.fromCodePoint(cp);
      }
      const ctx = { workspaceId: w.workspaceId, keyId: `key_${n}` };
      const ct = await encryptKey(plaintext, w.dek, w.dekId, ctx);
      if (plaintext.length >= 8) expect(ct).not.toContain(plaintext);
      expect(value(await decryptKey(ct, deks, ctx))).toBe(plaintext);
    }
  });

  it("never throws on garbage, and never accepts it", async () => {
    const next = rng(0xbad);
    const { ring: r } = await ring("kek1");
    const w = await workspaceDek(r);
    const deks = new Map([[w.dekId, w.dek]]);
    const ctx = { workspaceId: w.workspaceId, keyId: "key_1" };
    const chars = `${B64URL}.=+/ :|\u00e9\u0000\uD83D\uDD11\uFFFF`;
    const randomText = (max: number) => {
      let s = "";
      for (let i = int(next, 0, max); i > 0; i--) s += chars[int(next, 0, chars.length - 1)];
      return s;
    };
    const randomB64 = (bytes: number) => b64url(crypto.getRandomValues(new Uint8Array(bytes)));
    for (let n = 0; n < 1500; n++) {
      const shape = n % 4;
      const text =
        shape === 0
          ? randomText(200)
          : shape === 1
            ? `v1.${randomText(10)}.${randomText(20)}.${randomText(60)}`
            : shape === 2
              ? `v1.${w.dekId}.${randomB64(12)}.${randomB64(int(next, 0, 80))}`
              : `v1.kek1.${randomB64(12)}.${randomB64(48)}`;
      const parsed = parseCiphertext(text);
      const decrypted = await decryptKey(text, deks, ctx);
      const unwrapped = await unwrapDek(text, r.keys, w.ctx);
      expect(decrypted.ok, text).toBe(false);
      expect(unwrapped.ok, text).toBe(false);
      if (!parsed.ok) expect(errorOf(decrypted).code).toBe("malformed");
      if (shape === 2 && parsed.ok) expect(errorOf(decrypted).code).toBe("decrypt_failed");
      if (shape === 3) expect(errorOf(unwrapped).code).toBe("decrypt_failed");
    }
  });
});
