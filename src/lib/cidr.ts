/**
 * IP addresses and CIDR ranges, IPv4 and IPv6, for per-API allow-lists and for the caller's address in
 * audit events. Parsing is strict (a value that parses is exactly one address or range, so a typo is a 400
 * rather than a list that silently allows something else), and no function here throws, whatever it is
 * given: these run on request headers and stored settings.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) ARE IPv4 addresses: they are parsed as IPv4, so a client
 * reaching us over a dual-stack socket matches `192.0.2.0/24`, and `::ffff:192.0.2.0/120` means that range.
 */

export type IpAddress = { version: 4 | 6; bytes: Uint8Array };
export type Cidr = { version: 4 | 6; bytes: Uint8Array; prefix: number };

/** Most entries an allow-list may hold. */
export const MAX_CIDRS = 100;
/** Longest text accepted for one address or range ("ffff:…:255.255.255.255/128" is 49 characters). */
const MAX_TEXT = 64;

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): Uint8Array | null {
  const m = V4.exec(text);
  if (!m) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1]!;
    // A leading zero is refused: "010" is octal to some parsers and decimal to others.
    if (part.length > 1 && part.startsWith("0")) return null;
    const n = Number(part);
    if (n > 255) return null;
    bytes[i] = n;
  }
  return bytes;
}

/** Groups of one side of "::": hex groups, the last of which may be a dotted IPv4 (two groups). */
function groups(side: string, last: boolean): number[] | null {
  if (side === "") return [];
  const parts = side.split(":");
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (last && i === parts.length - 1 && p.includes(".")) {
      const v4 = parseV4(p);
      if (!v4) return null;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else {
      return null;
    }
  }
  return out;
}

function parseV6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  let words: number[];
  if (halves.length === 2) {
    const head = groups(halves[0]!, false);
    const tail = groups(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groups(text, true);
    if (!all || all.length !== 8) return null;
    words = all;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** One IP literal (no zone, no brackets, no port), or null. An IPv4-mapped IPv6 address comes back as IPv4. */
export function parseIp(input: unknown): IpAddress | null {
  if (typeof input !== "string" || input.length === 0 || input.length > MAX_TEXT) return null;
  if (!input.includes(":")) {
    const v4 = parseV4(input);
    return v4 ? { version: 4, bytes: v4 } : null;
  }
  const v6 = parseV6(input);
  if (!v6) return null;
  return isMapped(v6) ? { version: 4, bytes: v6.slice(12) } : { version: 6, bytes: v6 };
}

/** The canonical text of an address: dotted IPv4, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatIp(ip: IpAddress): string {
  if (ip.version === 4) return Array.from(ip.bytes).join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((ip.bytes[i]! << 8) | ip.bytes[i + 1]!);
  let best = -1;
  let bestLen = 1; // RFC 5952: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** The canonical text of an address, or undefined if `input` is not one. */
export function normalizeIp(input: unknown): string | undefined {
  const ip = parseIp(input);
  return ip ? formatIp(ip) : undefined;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; error: string };

/** Bits of `bytes` past `prefix` that are set. */
function hostBitsSet(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return true;
  }
  return false;
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/**
 * `address/prefix`, or a bare address meaning exactly that address. Strict: a prefix beyond the family's
 * width, a leading zero in it, or host bits set past it (`10.0.0.1/8`, which usually means a typo) is an
 * error whose message says what was meant.
 */
export function parseCidr(input: unknown): CidrParse {
  if (typeof input !== "string") return { ok: false, error: "must be a string" };
  if (input.length === 0 || input.length > MAX_TEXT) return { ok: false, error: `must be 1 to ${MAX_TEXT} characters` };
  const slash = input.indexOf("/");
  const addressText = slash < 0 ? input : input.slice(0, slash);
  const prefixText = slash < 0 ? undefined : input.slice(slash + 1);
  const raw = addressText.includes(":") ? parseV6(addressText) : parseV4(addressText);
  if (!raw) return { ok: false, error: `"${input}" is not an IPv4 or IPv6 address or CIDR range` };
  const width = raw.length * 8;
  let prefix = width;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > width) {
      return { ok: false, error: `the prefix length of "${input}" must be a whole number from 0 to ${width}` };
    }
    prefix = Number(prefixText);
  }
  if (hostBitsSet(raw, prefix)) {
    const network = formatCidr({ version: width === 32 ? 4 : 6, bytes: masked(raw, prefix), prefix });
    return { ok: false, error: `"${input}" has bits set past its prefix length; did you mean ${network}?` };
  }
  // A range inside ::ffff:0:0/96 is an IPv4 range (see the header).
  if (width === 128 && prefix >= 96 && isMapped(raw)) return { ok: true, cidr: { version: 4, bytes: raw.slice(12), prefix: prefix - 96 } };
  return { ok: true, cidr: { version: width === 32 ? 4 : 6, bytes: raw, prefix } };
}

/** Canonical `address/prefix` text, the form stored and shown back. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr)}/${cidr.prefix}`;
}

export type CidrListParse = { ok: true; cidrs: Cidr[]; canonical: string[] } | { ok: false; errors: { index: number; message: string }[] };

/**
 * An allow-list: an array of at most `MAX_CIDRS` ranges. Every bad entry is reported with its index (for a
 * 400 with one `errors[]` item each); duplicates (after canonicalisation) are dropped.
 */
export function parseCidrList(input: unknown, max: number = MAX_CIDRS): CidrListParse {
  if (!Array.isArray(input)) return { ok: false, errors: [{ index: -1, message: "must be an array of CIDR ranges" }] };
  if (input.length > max) return { ok: false, errors: [{ index: -1, message: `may hold at most ${max} ranges` }] };
  const errors: { index: number; message: string }[] = [];
  const cidrs: Cidr[] = [];
  const canonical: string[] = [];
  input.forEach((entry: unknown, index) => {
    const parsed = parseCidr(entry);
    if (!parsed.ok) return void errors.push({ index, message: parsed.error });
    const text = formatCidr(parsed.cidr);
    if (canonical.includes(text)) return;
    canonical.push(text);
    cidrs.push(parsed.cidr);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, cidrs, canonical };
}

function inRange(bytes: Uint8Array, cidr: Cidr): boolean {
  if (bytes.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full]! & mask) === (cidr.bytes[full]! & mask);
}

/**
 * True if `ip` lies in one of `cidrs` (parsed ranges, or their text; entries that do not parse match
 * nothing). Fails closed: an address that does not parse is not allowed, and an empty list allows nothing,
 * so a caller must treat "no allow-list configured" as unrestricted itself, before calling this.
 */
export function ipAllowed(ip: unknown, cidrs: readonly (Cidr | string)[]): boolean {
  const addr = parseIp(ip);
  if (!addr || !Array.isArray(cidrs)) return false;
  // An IPv4 caller also matches IPv6 ranges that cover its mapped form (e.g. ::/0 or ::ffff:0:0/80).
  const mapped = addr.version === 4 ? new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...addr.bytes]) : undefined;
  for (const entry of cidrs) {
    const cidr = typeof entry === "string" ? (parseCidr(entry) as { cidr?: Cidr }).cidr : entry;
    if (!cidr || typeof cidr !== "object" || !(cidr.bytes instanceof Uint8Array) || !Number.isInteger(cidr.prefix)) continue;
    if (inRange(addr.bytes, cidr) || (mapped && cidr.version === 6 && inRange(mapped, cidr))) return true;
  }
  return false;
}
