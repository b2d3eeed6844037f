import { describe, expect, it } from "vitest";
import { formatCidr, ipAllowed, MAX_CIDRS, normalizeIp, parseCidr, parseCidrList, parseIp } from "./cidr";

const canonical = (text: string): string => {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`${text}: ${r.error}`);
  return formatCidr(r.cidr);
};

describe("parseIp / normalizeIp", () => {
  it("accepts IPv4 dotted quads and gives them back unchanged", () => {
    for (const ip of ["0.0.0.0", "1.2.3.4", "192.168.0.1", "255.255.255.255", "10.0.0.10"]) expect(normalizeIp(ip)).toBe(ip);
  });

  it("accepts every IPv6 form and writes it the RFC 5952 way", () => {
    const cases: Array<[string, string]> = [
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["2001:DB8::1", "2001:db8::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["fe80::1:2:3:4:5:6", "fe80:0:1:2:3:4:5:6"],
      ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
      ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
      ["::1.2.3.4", "::102:304"],
    ];
    for (const [input, out] of cases) expect(normalizeIp(input), input).toBe(out);
  });

  it("reads IPv4-mapped IPv6 as the IPv4 address it is, in every spelling", () => {
    for (const ip of ["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:102:304", "0:0:0:0:0:ffff:1.2.3.4", "0000:0000:0000:0000:0000:ffff:0102:0304"]) {
      expect(parseIp(ip), ip).toEqual({ version: 4, bytes: new Uint8Array([1, 2, 3, 4]) });
    }
  });

  it("refuses anything that is not exactly one address", () => {
    const bad = [
      "",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "1.2.3.04",
      "1.2.3.-1",
      "0x7f.0.0.1",
      "1.2.3.4/32",
      ":",
      ":::",
      "1:::2",
      ":1::",
      "::1:",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::1",
      "fe80::1%eth0",
      "[::1]",
      "::1.2.3.4:5",
      "1.2.3.4::",
      "::ffff:1.2.3",
      "::ffff:256.1.1.1",
      "a".repeat(100),
    ];
    for (const ip of bad) expect(parseIp(ip), JSON.stringify(ip)).toBeNull();
  });

  it("never throws, whatever it is given", () => {
    for (const v of [undefined, null, 1, {}, [], Symbol.iterator, () => 1, new Uint8Array(4), "\u0000", "::\uD800"]) {
      expect(parseIp(v)).toBeNull();
    }
    const alphabet = "0123456789abcdefABCDEF:./% x";
    for (let i = 0; i < 3000; i++) {
      let s = "";
      const n = Math.floor(Math.random() * 48);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
      expect(() => parseIp(s)).not.toThrow();
      expect(() => parseCidr(s)).not.toThrow();
      expect(() => ipAllowed(s, [s, "::/0"])).not.toThrow();
      // Whatever parses gives back a form that parses to itself.
      const text = normalizeIp(s);
      if (text !== undefined) expect(normalizeIp(text)).toBe(text);
    }
  });
});

describe("parseCidr", () => {
  it("accepts ranges and bare addresses, in canonical form", () => {
    expect(canonical("10.0.0.0/8")).toBe("10.0.0.0/8");
    expect(canonical("0.0.0.0/0")).toBe("0.0.0.0/0");
    expect(canonical("192.0.2.7")).toBe("192.0.2.7/32");
    expect(canonical("2001:DB8::/32")).toBe("2001:db8::/32");
    expect(canonical("2001:db8:0:0::/64")).toBe("2001:db8::/64");
    expect(canonical("::/0")).toBe("::/0");
    expect(canonical("::1")).toBe("::1/128");
  });

  it("turns an IPv4-mapped range into the IPv4 range it means", () => {
    expect(canonical("::ffff:10.0.0.0/104")).toBe("10.0.0.0/8");
    expect(canonical("::ffff:0:0/96")).toBe("0.0.0.0/0");
    expect(canonical("::ffff:192.0.2.1")).toBe("192.0.2.1/32");
    // Wider than the mapped block: stays an IPv6 range.
    expect(canonical("::/80")).toBe("::/80");
    expect(parseCidr("::ffff:0:0/80").ok).toBe(false);
  });

  it("refuses host bits past the prefix, saying which range was meant", () => {
    const r = parseCidr("10.0.0.1/8");
    expect(r).toEqual({ ok: false, error: expect.stringContaining("did you mean 10.0.0.0/8?") });
    const v6 = parseCidr("2001:db8::1/32");
    expect(v6).toEqual({ ok: false, error: expect.stringContaining("did you mean 2001:db8::/32?") });
  });

  it("refuses bad prefixes and malformed text", () => {
    const bad = ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/ 8", "/8", "10.0.0/8", "x/8", "10.0.0.0/1e1", ""];
    for (const c of bad) expect(parseCidr(c).ok, c).toBe(false);
    expect(parseCidr(42)).toEqual({ ok: false, error: "must be a string" });
  });
});

describe("parseCidrList", () => {
  it("returns the canonical list without duplicates", () => {
    const r = parseCidrList(["10.0.0.0/8", "2001:DB8::/32", "::ffff:10.0.0.0/104", "192.0.2.1"]);
    expect(r).toMatchObject({ ok: true, canonical: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"] });
  });

  it("reports every bad entry by index", () => {
    const r = parseCidrList(["10.0.0.0/8", "nope", 5, "10.0.0.1/8"]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(r.errors[2]!.message).toContain("did you mean 10.0.0.0/8?");
  });

  it("refuses what is not an array, and a list that is too long", () => {
    for (const v of ["10.0.0.0/8", null, undefined, { 0: "10.0.0.0/8" }]) expect(parseCidrList(v).ok).toBe(false);
    expect(parseCidrList(new Array(MAX_CIDRS + 1).fill("10.0.0.0/8")).ok).toBe(false);
    expect(parseCidrList(new Array(MAX_CIDRS).fill("10.0.0.0/8"))).toMatchObject({ ok: true, canonical: ["10.0.0.0/8"] });
    expect(parseCidrList([])).toEqual({ ok: true, cidrs: [], canonical: [] });
  });
});

describe("ipAllowed", () => {
  const list = ["10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32", "203.0.113.7"];

  it("allows addresses inside a range and refuses those outside", () => {
    expect(ipAllowed("10.255.1.2", list)).toBe(true);
    expect(ipAllowed("11.0.0.1", list)).toBe(false);
    expect(ipAllowed("192.0.2.128", list)).toBe(true);
    expect(ipAllowed("192.0.2.255", list)).toBe(true);
    expect(ipAllowed("192.0.2.127", list)).toBe(false);
    expect(ipAllowed("203.0.113.7", list)).toBe(true);
    expect(ipAllowed("203.0.113.8", list)).toBe(false);
    expect(ipAllowed("2001:db8:1234::1", list)).toBe(true);
    expect(ipAllowed("2001:DB8::", list)).toBe(true);
    expect(ipAllowed("2001:db9::1", list)).toBe(false);
  });

  it("matches IPv4-mapped callers against IPv4 ranges, and IPv4 callers against ranges covering the mapped block", () => {
    expect(ipAllowed("::ffff:10.1.2.3", list)).toBe(true);
    expect(ipAllowed("::ffff:11.1.2.3", list)).toBe(false);
    expect(ipAllowed("10.1.2.3", ["::ffff:10.0.0.0/104"])).toBe(true);
    expect(ipAllowed("1.2.3.4", ["::/0"])).toBe(true);
    expect(ipAllowed("1.2.3.4", ["::/80"])).toBe(true);
    expect(ipAllowed("1.2.3.4", ["2001:db8::/32"])).toBe(false);
    expect(ipAllowed("2001:db8::1", ["0.0.0.0/0"])).toBe(false);
  });

  it("works on parsed ranges as well as text, at every prefix length", () => {
    const parsed = parseCidrList(list);
    if (!parsed.ok) throw new Error("list");
    expect(ipAllowed("10.9.9.9", parsed.cidrs)).toBe(true);
    for (let p = 0; p <= 32; p++) {
      const base = p === 0 ? "0.0.0.0" : "128.0.0.0";
      const range = `${p === 0 ? base : "128.0.0.0"}/${p}`;
      expect(ipAllowed("128.0.0.0", [range]), range).toBe(true);
      if (p > 0) expect(ipAllowed("0.0.0.0", [range]), range).toBe(false);
    }
    expect(ipAllowed("255.255.255.255", ["0.0.0.0/0"])).toBe(true);
    expect(ipAllowed("2001:db8::ff", ["2001:db8::/121"])).toBe(false);
    expect(ipAllowed("2001:db8::7f", ["2001:db8::/121"])).toBe(true);
  });

  it("fails closed: an unparseable caller, an empty list or a broken entry allows nothing", () => {
    expect(ipAllowed("", list)).toBe(false);
    expect(ipAllowed("10.0.0.1, 1.2.3.4", list)).toBe(false);
    expect(ipAllowed(undefined, list)).toBe(false);
    expect(ipAllowed("10.0.0.1", [])).toBe(false);
    expect(ipAllowed("10.0.0.1", ["junk", "10.0.0.1/8"])).toBe(false);
    expect(ipAllowed("10.0.0.1", [{} as never, null as never, "10.0.0.0/8"])).toBe(true);
    expect(ipAllowed("10.0.0.1", "10.0.0.0/8" as never)).toBe(false);
  });
});
