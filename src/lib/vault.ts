/**
 * The vault: envelope encryption for recoverable keys, WebCrypto only (runs in Workers and in Node 20).
 *
 * Two levels, as in Unkey's vault, plus context binding that Unkey lacks:
 * - KEKs (master keys) come from the secret `VAULT_MASTER_KEYS` = `id:base64(32 bytes),…`. The first wraps,
 *   all unwrap, so rotation is: put a new KEK first, re-wrap every DEK (`rewrapDek`), drop the old KEK.
 * - One DEK per workspace, stored wrapped: `v1.<kekId>.<nonce>.<ciphertext>`, AES-256-GCM under the KEK with
 *   AAD `dek|<workspaceId>|<dekId>`, so a wrapped DEK copied to another workspace or row fails to unwrap.
 * - Data: `v1.<dekId>.<nonce>.<ciphertext>`, AES-256-GCM under the DEK with AAD `<workspaceId>|<keyId>`, so a
 *   ciphertext moved to another key or workspace fails to decrypt. The two AADs cannot collide: context ids
 *   may not contain `|`, and the DEK AAD has two separators where the data AAD has one.
 * Nonces are 96 random bits per encryption. With one DEK per workspace that stays far below the 2^32
 * encryptions per key that NIST allows for random nonces.
 *
 * Expected failures (bad config, malformed or tampered text, unknown key ids) are returned as data; only caller
 * bugs (an id that cannot be encoded, a DEK of the wrong size) throw. No message ever holds key material or
 * plaintext: at most a key id, a position or a byte count.
 */

export const VAULT_VERSION = "v1";
/** Largest plaintext `encryptKey` accepts, in UTF-8 bytes. Keys are at most 512 characters. */
export const MAX_PLAINTEXT_BYTES = 4096;
/** Key and DEK ids: they are written into the formats, so no `.`, `:`, `,` or `|`. */
export const VAULT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Anything longer cannot be a v1 ciphertext; rejecting it early bounds the work spent on garbage. */
const MAX_TEXT_LENGTH = 8192;

type Bytes = Uint8Array<ArrayBuffer>;

export type VaultErrorCode = "malformed" | "unknown_kek" | "unknown_dek" | "decrypt_failed" | "bad_config";
export type VaultError = { code: VaultErrorCode; message: string };
export type VaultResult<T> = { ok: true; value: T } | { ok: false; error: VaultError };

/** A parsed master key. `raw` is secret: import it with `importMasterKeys` and never log it. */
export type MasterKey = { id: string; raw: Bytes };
/** Imported KEKs: `keys` holds every KEK by id (all unwrap); `primaryId` is the first, the one that wraps. */
export type KekRing = { primaryId: string; keys: ReadonlyMap<string, CryptoKey> };
/** Where a DEK lives: its workspace and its own id, both bound into the wrapped form. */
export type DekContext = { workspaceId: string; dekId: string };
/** Where a ciphertext lives: its workspace and key, both bound into it as AAD. */
export type KeyContext = { workspaceId: string; keyId: string };
/** A DEK by id: a map, or a function that loads it (from D1, a cache…); `undefined` means unknown. */
export type DekLookup =
  | ReadonlyMap<string, CryptoKey>
  | ((dekId: string) => CryptoKey | undefined | Promise<CryptoKey | undefined>);
/** The fields of a `v1.<id>.<nonce>.<ciphertext>` string; `sealed` is the ciphertext with its 16-byte tag. */
export type Envelope = { version: typeof VAULT_VERSION; id: string; nonce: Bytes; sealed: Bytes };

const fail = <T>(code: VaultErrorCode, message: string): VaultResult<T> => ({ ok: false, error: { code, message } });

/**
 * Parses `VAULT_MASTER_KEYS`: comma-separated `id:base64(32 bytes)` entries (standard base64, padding optional),
 * whitespace around entries tolerated, ids unique. Order matters: the first key wraps. Errors are numbered
 * from 1 and name the problem; they never echo an entry, since a malformed entry may be all key material.
 */
export function parseMasterKeys(
  secret: string | undefined,
): { ok: true; keys: MasterKey[] } | { ok: false; error: string } {
  if (secret === undefined || secret.trim() === "") {
    return { ok: false, error: "VAULT_MASTER_KEYS is missing or empty" };
  }
  const keys: MasterKey[] = [];
  const entries = secret.split(",");
  for (let i = 0; i < entries.length; i++) {
    const n = i + 1;
    const entry = entries[i]!.trim();
    const colon = entry.indexOf(":");
    if (colon < 0) {
      return { ok: false, error: `VAULT_MASTER_KEYS entry ${n} is malformed: expected id:base64(32 bytes)` };
    }
    const id = entry.slice(0, colon);
    if (!VAULT_ID_PATTERN.test(id)) {
      return {
        ok: false,
        error: `VAULT_MASTER_KEYS entry ${n} is malformed: the id must be 1-64 characters of A-Z a-z 0-9 _ -`,
      };
    }
    const raw = decodeBase64(entry.slice(colon + 1), false);
    if (raw === undefined) {
      return { ok: false, error: `VAULT_MASTER_KEYS key ${n} (id "${id}") is not valid base64` };
    }
    if (raw.length !== KEY_BYTES) {
      return {
        ok: false,
        error: `VAULT_MASTER_KEYS key ${n} (id "${id}") is ${raw.length} bytes, expected ${KEY_BYTES}`,
      };
    }
    if (keys.some((k) => k.id === id)) {
      return { ok: false, error: `VAULT_MASTER_KEYS key ${n} has a duplicate id "${id}"` };
    }
    keys.push({ id, raw });
  }
  return { ok: true, keys };
}

/**
 * Imports parsed master keys as non-extractable AES-GCM keys (encrypt + decrypt), keyed by id, the first being
 * the primary. Throws on an empty list or a key of the wrong size: `parseMasterKeys` never produces either.
 */
export async function importMasterKeys(keys: readonly MasterKey[]): Promise<KekRing> {
  const first = keys[0];
  if (first === undefined) throw new TypeError("importMasterKeys needs at least one key");
  const map = new Map<string, CryptoKey>();
  for (const k of keys) map.set(k.id, await importAesKey(k.raw));
  return { primaryId: first.id, keys: map };
}

/**
 * `parseMasterKeys` then `importMasterKeys`, for the service layer: a missing or malformed secret is a
 * `bad_config` error (the caller answers 412/500 and never falls back to plaintext).
 */
export async function loadMasterKeys(secret: string | undefined): Promise<VaultResult<KekRing>> {
  const parsed = parseMasterKeys(secret);
  if (!parsed.ok) return fail("bad_config", parsed.error);
  return { ok: true, value: await importMasterKeys(parsed.keys) };
}

/**
 * A fresh DEK: 32 CSPRNG bytes and an id `dek_` + 32 hex characters. The raw bytes exist only to be wrapped
 * (`wrapDek`) and imported (`importDek`); zero them afterwards with `raw.fill(0)`.
 */
export function generateDek(): { id: string; raw: Bytes } {
  const idBytes = crypto.getRandomValues(new Uint8Array(16));
  const id = `dek_${[...idBytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  return { id, raw: crypto.getRandomValues(new Uint8Array(KEY_BYTES)) };
}

/** Imports raw DEK bytes as a non-extractable AES-256-GCM key (encrypt + decrypt). Throws unless 32 bytes. */
export function importDek(raw: Uint8Array): Promise<CryptoKey> {
  return importAesKey(raw);
}

/**
 * Wraps a DEK under a KEK: `v1.<kekId>.<b64url nonce>.<b64url ciphertext+tag>`, AES-256-GCM with AAD
 * `dek|<workspaceId>|<dekId>`. Throws only on caller bugs (DEK not 32 bytes, an id that cannot be encoded).
 */
export async function wrapDek(dekRaw: Uint8Array, kek: CryptoKey, kekId: string, ctx: DekContext): Promise<string> {
  if (dekRaw.length !== KEY_BYTES) throw new TypeError(`a DEK must be ${KEY_BYTES} bytes`);
  assertId(kekId, "kekId");
  const copy = new Uint8Array(dekRaw);
  try {
    return await seal(kek, kekId, copy, dekAad(ctx));
  } finally {
    copy.fill(0);
  }
}

/**
 * Unwraps a DEK to a non-extractable AES-GCM key. `malformed` if the text is not a v1 wrapped DEK,
 * `unknown_kek` if its KEK is not in `keks` (an old KEK removed before re-wrapping finished), `decrypt_failed`
 * if authentication fails (wrong KEK, tampered text, or a DEK moved to another workspace or id).
 */
export async function unwrapDek(
  wrapped: string,
  keks: ReadonlyMap<string, CryptoKey>,
  ctx: DekContext,
): Promise<VaultResult<CryptoKey>> {
  const raw = await openDek(wrapped, keks, ctx);
  if (!raw.ok) return raw;
  try {
    return { ok: true, value: await importAesKey(raw.value) };
  } finally {
    raw.value.fill(0);
  }
}

/**
 * KEK rotation for one DEK: unwraps with any KEK in the ring and wraps again under the primary.
 * `changed: false` (and the input returned as is) when it is already under the primary, so a re-wrap command
 * can be re-run and update only the rows that changed; the DEK is still authenticated either way.
 */
export async function rewrapDek(
  wrapped: string,
  ring: KekRing,
  ctx: DekContext,
): Promise<VaultResult<{ wrapped: string; kekId: string; changed: boolean }>> {
  const primary = ring.keys.get(ring.primaryId);
  if (primary === undefined) return fail("bad_config", `the primary KEK "${ring.primaryId}" is not in the ring`);
  const raw = await openDek(wrapped, ring.keys, ctx);
  if (!raw.ok) return raw;
  try {
    const current = parseWrappedDek(wrapped);
    if (current.ok && current.value.id === ring.primaryId) {
      return { ok: true, value: { wrapped, kekId: ring.primaryId, changed: false } };
    }
    const rewrapped = await seal(primary, ring.primaryId, raw.value, dekAad(ctx));
    return { ok: true, value: { wrapped: rewrapped, kekId: ring.primaryId, changed: true } };
  } finally {
    raw.value.fill(0);
  }
}

/**
 * Encrypts a key's plaintext under the workspace DEK: `v1.<dekId>.<b64url nonce>.<b64url ciphertext+tag>`,
 * AES-256-GCM, a random 96-bit nonce, AAD = UTF-8 of `<workspaceId>|<keyId>`. Throws only on caller bugs
 * (an invalid dekId or context, plaintext over MAX_PLAINTEXT_BYTES or with lone surrogates).
 */
export async function encryptKey(plaintext: string, dek: CryptoKey, dekId: string, ctx: KeyContext): Promise<string> {
  assertId(dekId, "dekId");
  // A lone surrogate would be silently replaced by U+FFFD, so the key would not round-trip.
  if (/\p{Cs}/u.test(plaintext)) throw new TypeError("plaintext is not well-formed Unicode");
  const data = utf8(plaintext);
  if (data.length > MAX_PLAINTEXT_BYTES) throw new TypeError(`plaintext exceeds ${MAX_PLAINTEXT_BYTES} bytes`);
  return seal(dek, dekId, data, keyAad(ctx));
}

/**
 * Decrypts a ciphertext from `encryptKey`. Looks its DEK up by the id in the text: `malformed` if the text is
 * not a v1 ciphertext, `unknown_dek` if the lookup has no such DEK, `decrypt_failed` if authentication fails
 * (wrong DEK, tampered text, or a ciphertext moved to another key or workspace). Never throws for any input
 * text; an exception from a lookup function (an I/O failure) propagates.
 */
export async function decryptKey(ciphertext: string, dekLookup: DekLookup, ctx: KeyContext): Promise<VaultResult<string>> {
  const aad = keyAad(ctx);
  const env = parseCiphertext(ciphertext);
  if (!env.ok) return env;
  const dek = typeof dekLookup === "function" ? await dekLookup(env.value.id) : dekLookup.get(env.value.id);
  if (dek === undefined) return fail("unknown_dek", `no data key "${env.value.id}" is available`);
  const opened = await open(dek, env.value, aad);
  if (!opened.ok) return opened;
  try {
    // fatal: bytes that are not UTF-8 are an error, not U+FFFD; ignoreBOM: a leading U+FEFF is kept, not eaten.
    return { ok: true, value: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(opened.value) };
  } catch {
    return fail("decrypt_failed", "the decrypted key is not valid UTF-8");
  }
}

/**
 * Strictly parses a data ciphertext, so the caller can load the DEK named by `id` before `decryptKey`.
 * `malformed` unless: version `v1`, exactly four `.`-separated fields, an id matching VAULT_ID_PATTERN,
 * canonical unpadded base64url, a 12-byte nonce, and 16 to MAX_PLAINTEXT_BYTES + 16 bytes of ciphertext.
 */
export function parseCiphertext(text: string): VaultResult<Envelope> {
  return parseEnvelope(text, TAG_BYTES, MAX_PLAINTEXT_BYTES + TAG_BYTES, "ciphertext");
}

/** As `parseCiphertext`, for a wrapped DEK (`id` is the KEK id; the ciphertext is exactly 32 + 16 bytes). */
export function parseWrappedDek(text: string): VaultResult<Envelope> {
  return parseEnvelope(text, KEY_BYTES + TAG_BYTES, KEY_BYTES + TAG_BYTES, "wrapped data key");
}

// ---- internals ----

function parseEnvelope(text: string, minSealed: number, maxSealed: number, what: string): VaultResult<Envelope> {
  const bad = (why: string) => fail<Envelope>("malformed", `the ${what} is malformed: ${why}`);
  if (typeof text !== "string" || text.length > MAX_TEXT_LENGTH) return bad("wrong length");
  const parts = text.split(".");
  if (parts.length !== 4) return bad(`expected 4 fields, found ${parts.length}`);
  const [version, id, nonceText, sealedText] = parts as [string, string, string, string];
  if (version !== VAULT_VERSION) return bad("unknown version");
  if (!VAULT_ID_PATTERN.test(id)) return bad("invalid key id");
  const nonce = decodeBase64(nonceText, true);
  if (nonce === undefined || nonce.length !== NONCE_BYTES) return bad(`the nonce must be ${NONCE_BYTES} bytes of base64url`);
  const sealed = decodeBase64(sealedText, true);
  if (sealed === undefined) return bad("the ciphertext is not base64url");
  if (sealed.length < minSealed || sealed.length > maxSealed) return bad(`the ciphertext has a wrong length`);
  return { ok: true, value: { version: VAULT_VERSION, id, nonce, sealed } };
}

async function openDek(wrapped: string, keks: ReadonlyMap<string, CryptoKey>, ctx: DekContext): Promise<VaultResult<Bytes>> {
  const aad = dekAad(ctx);
  const env = parseWrappedDek(wrapped);
  if (!env.ok) return env;
  const kek = keks.get(env.value.id);
  if (kek === undefined) return fail("unknown_kek", `the data key is wrapped by KEK "${env.value.id}", which is not configured`);
  return open(kek, env.value, aad);
}

async function seal(key: CryptoKey, id: string, data: Bytes, aad: Bytes): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, key, data);
  return `${VAULT_VERSION}.${id}.${encodeBase64Url(nonce)}.${encodeBase64Url(new Uint8Array(sealed))}`;
}

async function open(key: CryptoKey, env: Envelope, aad: Bytes): Promise<VaultResult<Bytes>> {
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: env.nonce, additionalData: aad, tagLength: 128 },
      key,
      env.sealed,
    );
    return { ok: true, value: new Uint8Array(plain) };
  } catch {
    // WebCrypto reports a failed tag check as a bare OperationError; nothing more to say without leaking.
    return fail("decrypt_failed", "authentication failed: wrong key, wrong context, or corrupted data");
  }
}

function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== KEY_BYTES) throw new TypeError(`an AES-256 key must be ${KEY_BYTES} bytes`);
  return crypto.subtle.importKey("raw", new Uint8Array(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

function assertId(id: string, name: string): void {
  if (!VAULT_ID_PATTERN.test(id)) throw new TypeError(`${name} must match ${VAULT_ID_PATTERN.source}`);
}

/** Context ids go into `|`-joined AAD, so they must be non-empty and free of `|` to keep the AAD unambiguous. */
function contextPart(value: string, name: string): string {
  if (typeof value !== "string" || value === "" || value.includes("|")) {
    throw new TypeError(`${name} must be a non-empty string without "|"`);
  }
  return value;
}

/** UTF-8 bytes over a plain ArrayBuffer (the Workers typings return a wider buffer type than WebCrypto takes). */
function utf8(text: string): Bytes {
  return new Uint8Array(new TextEncoder().encode(text));
}

function keyAad(ctx: KeyContext): Bytes {
  return utf8(`${contextPart(ctx.workspaceId, "workspaceId")}|${contextPart(ctx.keyId, "keyId")}`);
}

function dekAad(ctx: DekContext): Bytes {
  return utf8(`dek|${contextPart(ctx.workspaceId, "workspaceId")}|${contextPart(ctx.dekId, "dekId")}`);
}

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function encodeBase64Url(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let j = 0; j < chars; j++) out += URL_SAFE[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}

/**
 * Strict base64 decoding: base64url without padding (`url`), or standard base64 with optional padding.
 * Rejects any other character and non-canonical text (unused trailing bits set), so every byte string has
 * exactly one encoding and changing any character of a ciphertext changes its bytes or makes it malformed.
 */
function decodeBase64(text: string, url: boolean): Bytes | undefined {
  let body = text;
  if (!url && body.endsWith("=")) {
    if (body.length % 4 !== 0) return undefined;
    body = body.endsWith("==") ? body.slice(0, -2) : body.slice(0, -1);
  }
  if (body.length % 4 === 1) return undefined;
  const alphabet = url ? URL_SAFE : STD;
  const out = new Uint8Array(Math.floor((body.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < body.length; i++) {
    const v = alphabet.indexOf(body[i]!);
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
