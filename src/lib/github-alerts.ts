/**
 * GitHub's secret-scanning partner alerts: when GitHub finds something that looks like one of our keys in a
 * public place, it POSTs `[{token, type, url, source}]`, signed with ECDSA P-256 / SHA-256 over the raw body.
 * The headers name the signing key (`Github-Public-Key-Identifier`) and carry the signature as base64 of an
 * ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` (`Github-Public-Key-Signature`). GitHub's public keys are
 * published as `{public_keys:[{key_identifier, key (PEM SPKI), is_current}]}`, and Latch takes that JSON as
 * configuration, so a deployment can pin and rotate them without code.
 *
 * Nothing here throws on untrusted input: a malformed header, key or body is a refusal (false / error).
 * The signature must be checked over the exact bytes received, before the body is parsed or trusted.
 */
import { z } from "zod";

export const MAX_ALERTS = 1000;
export const MAX_PUBLIC_KEYS = 32;
/** Longest base64 signature accepted: a P-256 DER signature is at most 72 bytes (96 base64 characters). */
const MAX_SIGNATURE_TEXT = 128;

export type GithubPublicKey = { keyIdentifier: string; spki: Uint8Array<ArrayBuffer>; isCurrent: boolean };
export type GithubAlert = { token: string; type: string; url: string; source: string };
export type AlertLabel = "true_positive" | "false_positive";
export type AlertReply = { token_raw: string; token_type: string; label: AlertLabel };

const PublicKeysSchema = z.object({
  public_keys: z
    .array(z.object({ key_identifier: z.string().min(1).max(256), key: z.string().min(1).max(8192), is_current: z.boolean().optional() }))
    .min(1)
    .max(MAX_PUBLIC_KEYS),
});

/** Strict standard base64 (padding optional), or null. */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const unpadded = text.replace(/=+$/, "");
  if (unpadded.length % 4 === 1) return null;
  if (text.length !== unpadded.length && text.length % 4 !== 0) return null;
  try {
    return Uint8Array.from(atob(unpadded + "=".repeat((4 - (unpadded.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The DER bytes of a `-----BEGIN PUBLIC KEY-----` block, or null. */
export function pemToSpki(pem: string): Uint8Array<ArrayBuffer> | null {
  const m = /^\s*-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*$/.exec(pem);
  return m ? decodeBase64(m[1]!.replace(/\s+/g, "")) : null;
}

/** Parses the configured keys (GitHub's JSON). Every key must be a PEM public key. */
export function parseGithubPublicKeys(json: unknown): { ok: true; keys: GithubPublicKey[] } | { ok: false; error: string } {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch {
      return { ok: false, error: "not JSON" };
    }
  }
  const parsed = PublicKeysSchema.safeParse(value);
  if (!parsed.success) return { ok: false, error: "expected {public_keys:[{key_identifier, key, is_current}]}" };
  const keys: GithubPublicKey[] = [];
  for (const k of parsed.data.public_keys) {
    const spki = pemToSpki(k.key);
    if (!spki) return { ok: false, error: `key ${k.key_identifier.slice(0, 80)} is not a PEM public key` };
    keys.push({ keyIdentifier: k.key_identifier, spki, isCurrent: k.is_current ?? false });
  }
  return { ok: true, keys };
}

/** One DER length (short form, or long form of one byte); returns [length, bytes used] or null. */
function derLength(der: Uint8Array, at: number): [number, number] | null {
  const first = der[at];
  if (first === undefined) return null;
  if (first < 0x80) return [first, 1];
  if (first === 0x81 && der[at + 1] !== undefined && der[at + 1]! >= 0x80) return [der[at + 1]!, 2];
  return null;
}

/** A positive DER INTEGER at `at`, minimally encoded; returns [value without sign byte, next offset] or null. */
function derInteger(der: Uint8Array, at: number, size: number): [Uint8Array, number] | null {
  if (der[at] !== 0x02) return null;
  const len = derLength(der, at + 1);
  if (!len || len[0] === 0) return null;
  const start = at + 1 + len[1];
  const end = start + len[0];
  if (end > der.length) return null;
  let value = der.subarray(start, end);
  if (value[0]! & 0x80) return null; // negative
  if (value[0] === 0 && value.length > 1) {
    if (!(value[1]! & 0x80)) return null; // a leading zero that was not needed
    value = value.subarray(1);
  }
  return value.length <= size ? [value, end] : null;
}

/**
 * DER `SEQUENCE { INTEGER r, INTEGER s }` → the fixed-width `r || s` WebCrypto verifies (IEEE P1363), each
 * left-padded to `size` bytes (32 for P-256). Null for anything that is not exactly such a sequence.
 */
export function derSignatureToRaw(der: Uint8Array, size = 32): Uint8Array<ArrayBuffer> | null {
  if (der[0] !== 0x30) return null;
  const len = derLength(der, 1);
  if (!len || 1 + len[1] + len[0] !== der.length) return null;
  const r = derInteger(der, 1 + len[1], size);
  if (!r) return null;
  const s = derInteger(der, r[1], size);
  if (!s || s[1] !== der.length) return null;
  const raw = new Uint8Array(2 * size);
  raw.set(r[0], size - r[0].length);
  raw.set(s[0], 2 * size - s[0].length);
  return raw;
}

export type SignatureCheck = {
  /** The request body exactly as received. */
  body: Uint8Array<ArrayBuffer> | ArrayBuffer | string;
  keyIdentifier: string | null | undefined;
  signature: string | null | undefined;
  publicKeys: readonly GithubPublicKey[];
};

/** True only for a well-formed signature by the configured key the request names, over exactly `body`. */
export async function verifyGithubSignature(check: SignatureCheck): Promise<boolean> {
  const { keyIdentifier, signature, publicKeys } = check;
  if (typeof keyIdentifier !== "string" || typeof signature !== "string" || signature.length > MAX_SIGNATURE_TEXT) return false;
  const key = publicKeys.find((k) => k.keyIdentifier === keyIdentifier);
  const der = decodeBase64(signature.trim());
  const raw = der && derSignatureToRaw(der);
  if (!key || !raw) return false;
  const body = typeof check.body === "string" ? new TextEncoder().encode(check.body) : check.body;
  try {
    const publicKey = await crypto.subtle.importKey("spki", key.spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, raw, body);
  } catch {
    return false;
  }
}

const AlertsSchema = z
  .array(
    z.object({
      token: z.string().min(1).max(512),
      type: z.string().min(1).max(256),
      url: z.string().max(4096).default(""),
      source: z.string().max(256).default(""),
    }),
  )
  .min(1)
  .max(MAX_ALERTS);

/** The alerts of a body whose signature was verified; unknown fields are ignored (GitHub may add some). */
export function parseAlerts(body: string): { ok: true; alerts: GithubAlert[] } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, error: "the body is not JSON" };
  }
  const parsed = AlertsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `expected 1 to ${MAX_ALERTS} alerts {token, type, url, source}${issue ? ` (${issue.path.join(".") || "body"}: ${issue.message})` : ""}` };
  }
  return { ok: true, alerts: parsed.data };
}

/** GitHub's reply format: one entry per alert, in order; true_positive for a token that was one of our keys. */
export function alertReply(outcomes: readonly { alert: GithubAlert; found: boolean }[]): AlertReply[] {
  return outcomes.map(({ alert, found }) => ({ token_raw: alert.token, token_type: alert.type, label: found ? "true_positive" : "false_positive" }));
}
