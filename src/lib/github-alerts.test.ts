import { describe, expect, it } from "vitest";
import {
  alertReply,
  decodeBase64,
  derSignatureToRaw,
  MAX_ALERTS,
  parseAlerts,
  parseGithubPublicKeys,
  pemToSpki,
  verifyGithubSignature,
  type GithubPublicKey,
} from "./github-alerts";

const ECDSA = { name: "ECDSA", namedCurve: "P-256" } as const;

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** A positive DER INTEGER: leading zeros dropped, a zero byte added if the high bit is set. */
function derInt(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = Array.from(bytes.subarray(i));
  if (v[0]! & 0x80) v.unshift(0);
  return [0x02, v.length, ...v];
}

/** What GitHub sends: the DER form of WebCrypto's raw r||s signature. */
function rawToDer(raw: Uint8Array): Uint8Array {
  const body = [...derInt(raw.subarray(0, 32)), ...derInt(raw.subarray(32))];
  return new Uint8Array([0x30, body.length, ...body]);
}

async function keyPair(): Promise<{ pair: CryptoKeyPair; pem: string }> {
  const pair = (await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  const lines = b64(spki).match(/.{1,64}/g)!.join("\n");
  return { pair, pem: `-----BEGIN PUBLIC KEY-----\n${lines}\n-----END PUBLIC KEY-----\n` };
}

async function sign(pair: CryptoKeyPair, body: string): Promise<string> {
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(body)));
  return b64(rawToDer(raw));
}

function keysJson(...keys: Array<{ id: string; pem: string; current?: boolean }>): string {
  return JSON.stringify({ public_keys: keys.map((k) => ({ key_identifier: k.id, key: k.pem, is_current: k.current ?? true })) });
}

function configured(json: string): GithubPublicKey[] {
  const r = parseGithubPublicKeys(json);
  if (!r.ok) throw new Error(r.error);
  return r.keys;
}

const BODY = JSON.stringify([{ token: "sk_3xQz9vLmN2pRsTuVwXyZ1a", type: "latch_api_key", url: "https://github.com/acme/app/blob/main/.env", source: "content" }]);

describe("verifyGithubSignature", () => {
  it("accepts GitHub's DER signature by the named key over the exact body, from a string or bytes", async () => {
    const { pair, pem } = await keyPair();
    const old = await keyPair();
    const publicKeys = configured(keysJson({ id: "old", pem: old.pem, current: false }, { id: "k1", pem }));
    const signature = await sign(pair, BODY);
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature, publicKeys })).toBe(true);
    const bytes = new TextEncoder().encode(BODY);
    expect(await verifyGithubSignature({ body: bytes, keyIdentifier: "k1", signature, publicKeys })).toBe(true);
    expect(await verifyGithubSignature({ body: bytes.buffer, keyIdentifier: "k1", signature, publicKeys })).toBe(true);
    // A key that is not current still verifies what it signed (GitHub rotates keys gradually).
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "old", signature: await sign(old.pair, BODY), publicKeys })).toBe(true);
  });

  it("refuses a changed body, even one that parses to the same JSON", async () => {
    const { pair, pem } = await keyPair();
    const publicKeys = configured(keysJson({ id: "k1", pem }));
    const signature = await sign(pair, BODY);
    for (const body of [BODY.replace("acme", "acmf"), `${BODY} `, JSON.stringify(JSON.parse(BODY), null, 1), ""]) {
      expect(await verifyGithubSignature({ body, keyIdentifier: "k1", signature, publicKeys })).toBe(false);
    }
  });

  it("refuses another key's signature, an unknown or missing key id, and a missing signature", async () => {
    const { pair, pem } = await keyPair();
    const other = await keyPair();
    const publicKeys = configured(keysJson({ id: "k1", pem }, { id: "k2", pem: other.pem }));
    const signature = await sign(pair, BODY);
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k2", signature, publicKeys })).toBe(false);
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature: await sign(other.pair, BODY), publicKeys })).toBe(false);
    for (const keyIdentifier of ["k3", "", "K1", " k1", null, undefined]) {
      expect(await verifyGithubSignature({ body: BODY, keyIdentifier, signature, publicKeys })).toBe(false);
    }
    for (const s of [null, undefined, ""]) expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature: s, publicKeys })).toBe(false);
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature, publicKeys: [] })).toBe(false);
  });

  it("refuses malformed signatures without throwing", async () => {
    const { pair, pem } = await keyPair();
    const publicKeys = configured(keysJson({ id: "k1", pem }));
    const good = decodeBase64(await sign(pair, BODY))!;
    const raw = derSignatureToRaw(good)!;
    const variants: string[] = [
      b64(raw), // raw r||s instead of DER
      b64(good.subarray(0, good.length - 1)), // truncated
      b64(new Uint8Array([...good, 0])), // trailing byte
      b64(new Uint8Array([0x31, ...good.subarray(1)])), // not a SEQUENCE
      "not base64!",
      "A".repeat(500),
      b64(good).replace(/=+$/, "") + "===",
      b64(good).replace(/\+/g, "-").replace(/\//g, "_") + (b64(good).includes("+") || b64(good).includes("/") ? "" : "-"),
    ];
    for (const signature of variants) {
      expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature, publicKeys }), signature).toBe(false);
    }
    // A key that is not P-256 (or not a key at all) is a refusal, not an exception.
    const junk: GithubPublicKey[] = [{ keyIdentifier: "k1", spki: new Uint8Array([1, 2, 3]), isCurrent: true }];
    expect(await verifyGithubSignature({ body: BODY, keyIdentifier: "k1", signature: b64(good), publicKeys: junk })).toBe(false);
  });
});

describe("derSignatureToRaw", () => {
  it("left-pads short integers and drops the sign byte of high ones", () => {
    const raw = new Uint8Array(64);
    raw[31] = 7; // r = 7: one byte in DER
    raw.fill(0xff, 32); // s = 0xff…ff: 33 bytes in DER
    const der = rawToDer(raw);
    expect(der.length).toBe(2 + 3 + 35);
    expect(derSignatureToRaw(der)).toEqual(raw);
  });

  it("round-trips random signatures", () => {
    for (let i = 0; i < 200; i++) {
      const raw = crypto.getRandomValues(new Uint8Array(64));
      if (i % 3 === 0) raw.fill(0, 0, 1 + (i % 5));
      expect(derSignatureToRaw(rawToDer(raw))).toEqual(raw);
    }
  });

  it("refuses non-minimal, negative, oversized and zero-length integers", () => {
    const seq = (...body: number[]) => new Uint8Array([0x30, body.length, ...body]);
    expect(derSignatureToRaw(seq(0x02, 1, 1, 0x02, 1, 1))).not.toBeNull();
    expect(derSignatureToRaw(seq(0x02, 2, 0, 1, 0x02, 1, 1))).toBeNull(); // needless leading zero
    expect(derSignatureToRaw(seq(0x02, 1, 0x81, 0x02, 1, 1))).toBeNull(); // negative
    expect(derSignatureToRaw(seq(0x02, 0, 0x02, 1, 1))).toBeNull(); // empty
    expect(derSignatureToRaw(seq(0x02, 33, ...new Array(33).fill(1), 0x02, 1, 1))).toBeNull(); // 33 bytes
    expect(derSignatureToRaw(seq(0x02, 1, 1))).toBeNull(); // no s
    expect(derSignatureToRaw(seq(0x02, 1, 1, 0x02, 5, 1))).toBeNull(); // s runs past the end
    expect(derSignatureToRaw(new Uint8Array([0x30, 0x81, 6, 0x02, 1, 1, 0x02, 1, 1]))).toBeNull(); // long form for a short length
    expect(derSignatureToRaw(new Uint8Array([]))).toBeNull();
    for (let i = 0; i < 2000; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 80)));
      if (junk.length > 0 && i % 2 === 0) junk[0] = 0x30;
      expect(() => derSignatureToRaw(junk)).not.toThrow();
    }
  });
});

describe("parseGithubPublicKeys", () => {
  it("reads GitHub's key document", async () => {
    const { pem } = await keyPair();
    const keys = configured(keysJson({ id: "abc123", pem, current: true }));
    expect(keys).toEqual([{ keyIdentifier: "abc123", spki: pemToSpki(pem), isCurrent: true }]);
    expect(parseGithubPublicKeys(JSON.parse(keysJson({ id: "x", pem })))).toMatchObject({ ok: true });
  });

  it("refuses anything else", async () => {
    const { pem } = await keyPair();
    const bad: unknown[] = [
      "",
      "{",
      "[]",
      JSON.stringify({ public_keys: [] }),
      JSON.stringify({ public_keys: [{ key_identifier: "x" }] }),
      keysJson({ id: "x", pem: "MFkwEwYHKoZIzj0CAQ" }),
      keysJson({ id: "x", pem: pem.replace("PUBLIC KEY", "PRIVATE KEY") }),
      keysJson({ id: "x", pem: pem.replace("MFkw", "MF!w") }),
      42,
      null,
    ];
    for (const v of bad) expect(parseGithubPublicKeys(v).ok, String(v)).toBe(false);
  });
});

describe("parseAlerts / alertReply", () => {
  it("reads alerts, ignoring fields GitHub may add, and answers one entry per alert in GitHub's format", () => {
    const body = JSON.stringify([
      { token: "sk_a", type: "latch_api_key", url: "https://x", source: "content", extra: 1 },
      { token: "nope", type: "latch_api_key", url: "https://y", source: "commit" },
    ]);
    const r = parseAlerts(body);
    expect(r).toEqual({
      ok: true,
      alerts: [
        { token: "sk_a", type: "latch_api_key", url: "https://x", source: "content" },
        { token: "nope", type: "latch_api_key", url: "https://y", source: "commit" },
      ],
    });
    if (!r.ok) return;
    expect(alertReply([{ alert: r.alerts[0]!, found: true }, { alert: r.alerts[1]!, found: false }])).toEqual([
      { token_raw: "sk_a", token_type: "latch_api_key", label: "true_positive" },
      { token_raw: "nope", token_type: "latch_api_key", label: "false_positive" },
    ]);
  });

  it("refuses bodies that are not a bounded list of alerts", () => {
    const alert = { token: "t", type: "x", url: "u", source: "s" };
    const bad = [
      "",
      "{}",
      "[]",
      JSON.stringify(alert),
      JSON.stringify([{ ...alert, token: "" }]),
      JSON.stringify([{ ...alert, token: "t".repeat(513) }]),
      JSON.stringify([{ ...alert, type: undefined }]),
      JSON.stringify([{ ...alert, token: 5 }]),
      JSON.stringify(new Array(MAX_ALERTS + 1).fill(alert)),
    ];
    for (const body of bad) expect(parseAlerts(body).ok, body.slice(0, 60)).toBe(false);
    expect(parseAlerts(JSON.stringify([{ token: "t", type: "x" }]))).toEqual({ ok: true, alerts: [{ token: "t", type: "x", url: "", source: "" }] });
  });
});
