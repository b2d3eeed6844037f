import { describe, expect, it } from "vitest";
import {
  MAX_NESTING_DEPTH,
  MAX_QUERY_LENGTH,
  evaluatePermissionQuery,
  parsePermissionQuery,
  type PermissionQuery,
} from "./permission-query";

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
const pick = <T>(next: () => number, xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;

const P = (slug: string): PermissionQuery => ({ kind: "perm", slug });
const AND = (...children: PermissionQuery[]): PermissionQuery => ({ kind: "and", children });
const OR = (...children: PermissionQuery[]): PermissionQuery => ({ kind: "or", children });

function parsed(text: string): PermissionQuery {
  const r = parsePermissionQuery(text);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${r.error.message}`);
  return r.query;
}
function failed(text: string): { message: string; position: number } {
  const r = parsePermissionQuery(text);
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail, got ${JSON.stringify(r.query)}`);
  return r.error;
}
const check = (text: string, held: string[]) => evaluatePermissionQuery(parsed(text), new Set(held));

describe("parsePermissionQuery: happy", () => {
  it("parses a single permission, with any identifier characters", () => {
    expect(parsed("documents.read")).toEqual(P("documents.read"));
    expect(parsed("  api.*.create_key\t")).toEqual(P("api.*.create_key"));
    expect(parsed("x:y/z-1_2*")).toEqual(P("x:y/z-1_2*"));
    expect(parsed("a".repeat(MAX_QUERY_LENGTH))).toEqual(P("a".repeat(MAX_QUERY_LENGTH)));
  });

  it("binds AND tighter than OR", () => {
    expect(parsed("a OR b AND c")).toEqual(OR(P("a"), AND(P("b"), P("c"))));
    expect(parsed("a AND b OR c")).toEqual(OR(AND(P("a"), P("b")), P("c")));
    expect(parsed("a AND b OR c AND d")).toEqual(OR(AND(P("a"), P("b")), AND(P("c"), P("d"))));
    expect(parsed("(a OR b) AND c")).toEqual(AND(OR(P("a"), P("b")), P("c")));
    expect(check("a OR b AND c", ["a"])).toEqual({ ok: true });
    expect(check("a OR b AND c", ["c"]).ok).toBe(false);
    expect(check("(a OR b) AND c", ["a"]).ok).toBe(false);
  });

  it("flattens chains of one operator and drops redundant parentheses", () => {
    expect(parsed("a AND b AND c")).toEqual(AND(P("a"), P("b"), P("c")));
    expect(parsed("a AND (b AND c)")).toEqual(AND(P("a"), P("b"), P("c")));
    expect(parsed("(a OR b) OR c")).toEqual(OR(P("a"), P("b"), P("c")));
    expect(parsed("((a))")).toEqual(P("a"));
    expect(parsed("((a AND (b OR (c AND d))))")).toEqual(AND(P("a"), OR(P("b"), AND(P("c"), P("d")))));
  });

  it("treats AND/OR as keywords in any case", () => {
    for (const op of ["AND", "and", "And", "aNd"]) expect(parsed(`a ${op} b`)).toEqual(AND(P("a"), P("b")));
    for (const op of ["OR", "or", "Or", "oR"]) expect(parsed(`a ${op} b`)).toEqual(OR(P("a"), P("b")));
  });

  it("treats keywords inside longer runs as identifiers", () => {
    expect(parsed("ANDROID.read AND orders.read")).toEqual(AND(P("ANDROID.read"), P("orders.read")));
    for (const s of ["android", "andor", "AND.read", "a.and", "or-x", "aANDb", "ORACLE", "band", "door", "or:"]) {
      expect(parsed(s)).toEqual(P(s));
    }
  });

  it("needs no whitespace around parentheses and accepts any ASCII whitespace", () => {
    expect(parsed("(a)AND(b)OR(c)")).toEqual(OR(AND(P("a"), P("b")), P("c")));
    expect(parsed("\ta\nAND\r\nb\v\f")).toEqual(AND(P("a"), P("b")));
  });
});

describe("parsePermissionQuery: errors", () => {
  const cases: [string, number, string][] = [
    ["", 0, "empty query: expected a permission or '(' at position 0, found end of query"],
    ["   ", 3, "empty query: expected a permission or '(' at position 3, found end of query"],
    ["()", 1, "empty parentheses: expected a permission or '(' at position 1, found ')'"],
    ["a AND ( )", 8, "empty parentheses: expected a permission or '(' at position 8, found ')'"],
    ["(a AND b", 8, "missing ')': expected ')' at position 8 to close the '(' at position 0, found end of query"],
    ["((a)", 4, "missing ')': expected ')' at position 4 to close the '(' at position 0, found end of query"],
    ["(", 1, "missing ')': expected a permission or '(' at position 1, found end of query"],
    ["a)", 1, "unexpected ')': expected AND, OR or end of query at position 1, found ')' with no matching '('"],
    ["(a))", 3, "unexpected ')': expected AND, OR or end of query at position 3, found ')' with no matching '('"],
    [")", 0, "unexpected ')': expected a permission or '(' at position 0, found ')'"],
    ["AND a", 0, "leading operator: expected a permission or '(' at position 0, found 'AND'"],
    ["(or a)", 1, "leading operator: expected a permission or '(' at position 1, found 'or'"],
    ["a AND", 5, "trailing operator: expected a permission or '(' at position 5 after 'AND', found end of query"],
    ["a or  ", 6, "trailing operator: expected a permission or '(' at position 6 after 'or', found end of query"],
    ["(a OR)", 5, "unexpected ')': expected a permission or '(' at position 5 after 'OR', found ')'"],
    ["a AND OR b", 6, "two operators in a row: expected a permission or '(' at position 6 after 'AND', found 'OR'"],
    ["a b", 2, "missing operator: expected AND, OR or end of query at position 2, found 'b'"],
    ["a ORb", 2, "missing operator: expected AND, OR or end of query at position 2, found 'ORb'"],
    ["a (b)", 2, "missing operator: expected AND, OR or end of query at position 2, found '('"],
    ["(a) b", 4, "missing operator: expected AND, OR or end of query at position 4, found 'b'"],
    ["(a b)", 3, "missing operator: expected AND, OR or ')' at position 3, found 'b'"],
    ["a AND b c", 8, "missing operator: expected AND, OR or end of query at position 8, found 'c'"],
    ["a & b", 2, "invalid character '&' at position 2: expected a permission (letters, digits and . _ - * : /), AND, OR, '(' or ')'"],
    ["a || b", 2, "invalid character '|' at position 2"],
    ['"a"', 0, "invalid character '\"' at position 0"],
    ["a,b", 1, "invalid character ',' at position 1"],
    ["a!", 1, "invalid character '!' at position 1"],
    ["a\u0000", 1, "invalid character U+0000 at position 1"],
    ["a\u00a0b", 1, "invalid character U+00A0 at position 1"],
    ["é", 0, "invalid character 'é' (U+00E9) at position 0"],
    ["a OR 😀", 5, "invalid character '😀' (U+1F600) at position 5"],
    ["\ud800", 0, "invalid character U+D800 at position 0"],
    // The whole text is tokenised first, so a bad character wins over an earlier syntax error.
    ["AND !", 4, "invalid character '!' at position 4"],
    ["a".repeat(MAX_QUERY_LENGTH + 1), 1000, "query too long: expected at most 1000 characters, found 1001"],
  ];
  it.each(cases)("%j fails at %i", (text, position, message) => {
    const e = failed(text);
    expect(e.position).toBe(position);
    expect(e.message.startsWith(message)).toBe(true);
  });

  it("truncates long identifiers in messages", () => {
    expect(failed("a " + "b".repeat(100)).message).toBe(
      `missing operator: expected AND, OR or end of query at position 2, found '${"b".repeat(40)}…'`,
    );
  });

  it("refuses huge input before tokenising and never throws on non-strings", () => {
    const started = performance.now();
    expect(failed("!".repeat(5_000_000)).position).toBe(MAX_QUERY_LENGTH);
    expect(performance.now() - started).toBeLessThan(100);
    expect(parsePermissionQuery(undefined as unknown as string).ok).toBe(false);
  });
});

describe("parsePermissionQuery: nesting depth", () => {
  const nest = (n: number, inner = "a") => "(".repeat(n) + inner + ")".repeat(n);
  it(`accepts ${MAX_NESTING_DEPTH} levels and refuses the next one at its position`, () => {
    expect(parsed(nest(MAX_NESTING_DEPTH))).toEqual(P("a"));
    expect(failed(nest(MAX_NESTING_DEPTH + 1))).toEqual({
      message: "parentheses nested too deeply: expected at most 100 levels, found level 101 opened at position 100",
      position: 100,
    });
  });
  it("returns cleanly for the deepest inputs the length cap allows", () => {
    expect(failed(nest(499)).position).toBe(100); // 999 characters
    expect(failed(nest(600)).message).toMatch(/^query too long/); // 1201 characters
    expect(failed("(".repeat(MAX_QUERY_LENGTH)).position).toBe(100);
    expect(failed(")".repeat(MAX_QUERY_LENGTH)).position).toBe(0);
    expect(failed("(a AND ".repeat(142) + "b").position).toBe(700);
  });
});

describe("evaluatePermissionQuery", () => {
  it("describes what is missing", () => {
    const q = "documents.read AND documents.write";
    expect(check(q, [])).toEqual({ ok: false, missing: "documents.read and documents.write" });
    expect(check(q, ["documents.read"])).toEqual({ ok: false, missing: "documents.write" });
    expect(check(q, ["documents.read", "documents.write"])).toEqual({ ok: true });
    expect(check("a OR b", [])).toEqual({ ok: false, missing: "one of: a, b" });
    expect(check("a OR b", ["b"])).toEqual({ ok: true });
    expect(check("a AND (b OR c)", [])).toEqual({ ok: false, missing: "a and (one of: b, c)" });
    expect(check("a AND (b OR c)", ["a"])).toEqual({ ok: false, missing: "one of: b, c" });
    expect(check("(a AND b) OR c", [])).toEqual({ ok: false, missing: "one of: (a and b), c" });
    expect(check("(a AND b) OR c", ["a"])).toEqual({ ok: false, missing: "one of: b, c" });
  });

  it("matches slugs exactly: '*' is not a wildcard and case matters", () => {
    expect(check("documents.read", ["documents.*"])).toEqual({ ok: false, missing: "documents.read" });
    expect(check("documents.*", ["documents.read", "documents.write"]).ok).toBe(false);
    expect(check("documents.*", ["documents.*"]).ok).toBe(true);
    expect(check("documents.read", ["*"]).ok).toBe(false);
    expect(check("*", ["*"]).ok).toBe(true);
    expect(check("Documents.Read", ["documents.read"]).ok).toBe(false);
  });

  it("accepts hand-built empty nodes: an empty AND holds, an empty OR does not", () => {
    expect(evaluatePermissionQuery(AND(), new Set())).toEqual({ ok: true });
    expect(evaluatePermissionQuery(OR(), new Set(["a"])).ok).toBe(false);
  });
});

// ---- Generated tests -------------------------------------------------------------------------------

const SLUGS = ["documents.read", "documents.write", "documents.*", "*", "a", "b", "c", "ANDROID.read", "orders.read",
  "or.x", "and_more", "x:y/z", "api.*.create_key", "Or1", "ORACLE", "band", "door", "a-b_c", "AND.", "or:"];
const IDENT = /^[A-Za-z0-9._\-*:/]$/;

function genTree(next: () => number, depth: number): PermissionQuery {
  if (depth >= 4 || next() < 0.3 + depth * 0.15) return P(pick(next, SLUGS));
  const n = 2 + Math.floor(next() * 3);
  return { kind: next() < 0.5 ? "and" : "or", children: Array.from({ length: n }, () => genTree(next, depth + 1)) };
}

/** Renders a tree as tokens; parentheses only where needed plus some redundant ones. */
function renderTokens(next: () => number, q: PermissionQuery, parent?: "and" | "or"): string[] {
  let toks: string[];
  if (q.kind === "perm") toks = [q.slug];
  else {
    const ops = q.kind === "and" ? ["AND", "and", "And", "aNd"] : ["OR", "or", "Or", "oR"];
    toks = q.children.flatMap((c, i) => [...(i ? [pick(next, ops)] : []), ...renderTokens(next, c, q.kind)]);
  }
  const needed = q.kind === "or" && parent === "and";
  return needed || next() < 0.12 ? ["(", ...toks, ")"] : toks;
}
function join(next: () => number, toks: string[]): string {
  const ws = ["", "", " ", "  ", "\t", "\n", " \r\n "];
  let out = pick(next, ws);
  toks.forEach((t, i) => {
    const prev = toks[i - 1];
    const mustSpace = prev !== undefined && IDENT.test(prev.at(-1)!) && IDENT.test(t[0]!);
    out += (i ? (mustSpace ? pick(next, ws.slice(2)) : pick(next, ws)) : "") + t;
  });
  return out + pick(next, ws);
}

function refEval(q: PermissionQuery, held: ReadonlySet<string>): boolean {
  if (q.kind === "perm") return held.has(q.slug);
  return q.kind === "and" ? q.children.every((c) => refEval(c, held)) : q.children.some((c) => refEval(c, held));
}
function normalize(q: PermissionQuery): PermissionQuery {
  if (q.kind === "perm") return q;
  const kind = q.kind;
  return { kind, children: q.children.map(normalize).flatMap((c) => (c.kind === kind ? c.children : [c])) };
}
const slugsOf = (q: PermissionQuery): string[] => (q.kind === "perm" ? [q.slug] : q.children.flatMap(slugsOf));
function randomHeld(next: () => number, slugs: string[]): Set<string> {
  const held = new Set(slugs.filter(() => next() < 0.5));
  if (next() < 0.3) held.add(pick(next, ["*", "documents.*", "DOCUMENTS.READ", "x"]));
  return held;
}

/** Independent lexer (regex) for the checker below; null if a character is not allowed. */
function refTokens(s: string): string[] | null {
  const out: string[] = [];
  for (const m of s.matchAll(/[ \t\n\v\f\r]+|([A-Za-z0-9._\-*:/]+|[()])|([\s\S])/g)) {
    if (m[2] !== undefined) return null;
    if (m[1] !== undefined) out.push(/^(and|or)$/i.test(m[1]) ? m[1].toUpperCase() : m[1]);
  }
  return out;
}
/** Independent well-formedness check: a two-state automaton with a parenthesis counter. */
function wellFormed(s: string): boolean {
  const toks = s.length <= MAX_QUERY_LENGTH ? refTokens(s) : null;
  if (!toks) return false;
  let wantOperand = true;
  let depth = 0;
  for (const t of toks) {
    if (wantOperand) {
      if (t === "(") {
        if (++depth > MAX_NESTING_DEPTH) return false;
      } else if (t === ")" || t === "AND" || t === "OR") return false;
      else wantOperand = false;
    } else if (t === "AND" || t === "OR") wantOperand = true;
    else if (t === ")") {
      if (--depth < 0) return false;
    } else return false;
  }
  return !wantOperand && depth === 0;
}
/** Independent evaluator of a well-formed token list: shunting-yard to postfix, then a boolean stack. */
function shuntingEval(toks: string[], held: ReadonlySet<string>): boolean {
  const prec: Record<string, number> = { AND: 2, OR: 1 };
  const out: string[] = [];
  const ops: string[] = [];
  for (const t of toks) {
    if (t === "(") ops.push(t);
    else if (t === ")") {
      while (ops.at(-1) !== "(") out.push(ops.pop()!);
      ops.pop();
    } else if (t in prec) {
      while (ops.length && ops.at(-1)! in prec && prec[ops.at(-1)!]! >= prec[t]!) out.push(ops.pop()!);
      ops.push(t);
    } else out.push(t);
  }
  while (ops.length) out.push(ops.pop()!);
  const st: boolean[] = [];
  for (const t of out) {
    if (t in prec) {
      const b = st.pop()!;
      const a = st.pop()!;
      st.push(t === "AND" ? a && b : a || b);
    } else st.push(held.has(t));
  }
  return st[0]!;
}

describe("generated", () => {
  it("well-formed random queries parse to the generated tree and evaluate like it (2000 trees × 4 held sets)", () => {
    const next = rng(0x5eed);
    let tooLong = 0;
    for (let i = 0; i < 2000; i++) {
      const tree = genTree(next, 0);
      const text = join(next, renderTokens(next, tree));
      const r = parsePermissionQuery(text);
      if (text.length > MAX_QUERY_LENGTH) {
        expect(r.ok).toBe(false);
        tooLong++;
        continue;
      }
      if (!r.ok) throw new Error(`${JSON.stringify(text)}: ${r.error.message}`);
      expect(r.query).toEqual(normalize(tree));
      const slugs = slugsOf(tree);
      expect(evaluatePermissionQuery(r.query, new Set(slugs))).toEqual({ ok: true });
      expect(evaluatePermissionQuery(r.query, new Set(["*", "documents.*"].filter((s) => !slugs.includes(s)))).ok).toBe(false);
      for (let j = 0; j < 4; j++) {
        const held = randomHeld(next, slugs);
        const got = evaluatePermissionQuery(r.query, held);
        expect(got.ok, `${text} with ${[...held].join(",")}`).toBe(refEval(tree, held));
        if (!got.ok) {
          // The description names only slugs of the query that are not held.
          const words = got.missing.match(/[A-Za-z0-9._\-*:/]+/g)!.filter((w) => !["and", "one", "of:"].includes(w));
          for (const w of words) expect(slugs.includes(w) && !held.has(w), `${w} in ${got.missing}`).toBe(true);
        }
      }
    }
    expect(tooLong).toBeLessThan(100);
  });

  it("random and mutated strings never throw and parse iff an independent checker accepts (4000 strings)", () => {
    const next = rng(42);
    const PIECES = ["a", "b", "c", "x.y", "ANDROID", "orders", "and", "AND", "Or", "or", "OR", "aNd", " ", " ", "\t",
      "\n", "(", ")", "(", ")", "*", ":", "/", "-", "_", "."];
    const JUNK = ["!", "&", "|", '"', "&&", "||", ",", "é", "😀", "\u0000", "\u0007", "\ud800", "\u00a0", "\u200b", "\u2028"];
    let valid = 0;
    for (let i = 0; i < 4000; i++) {
      let s: string;
      if (i % 2 === 0) {
        // Mutate a well-formed query: insert, delete or replace a few pieces.
        s = join(next, renderTokens(next, genTree(next, 1)));
        for (let k = Math.floor(next() * 3); k >= 0; k--) {
          const at = Math.floor(next() * (s.length + 1));
          const piece = next() < 0.15 ? pick(next, JUNK) : pick(next, PIECES);
          const op = next();
          s = op < 0.4 ? s.slice(0, at) + piece + s.slice(at) : op < 0.7 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + piece + s.slice(at + piece.length);
        }
      } else {
        const r = next();
        const len = r < 0.8 ? Math.floor(next() * 40) : r < 0.95 ? Math.floor(next() * 300) : Math.floor(next() * (MAX_QUERY_LENGTH + 51));
        const junk = next() < 0.5 ? 0 : 0.1;
        s = "";
        while (s.length < len) s += next() < junk ? pick(next, JUNK) : pick(next, PIECES);
      }
      let r!: ReturnType<typeof parsePermissionQuery>;
      expect(() => (r = parsePermissionQuery(s))).not.toThrow();
      expect(r.ok, JSON.stringify(s)).toBe(wellFormed(s));
      if (r.ok) {
        valid++;
        const toks = refTokens(s)!;
        const slugs = toks.filter((t) => !["(", ")", "AND", "OR"].includes(t));
        for (let j = 0; j < 3; j++) {
          const held = randomHeld(next, slugs);
          expect(evaluatePermissionQuery(r.query, held).ok, JSON.stringify(s)).toBe(shuntingEval(toks, held));
        }
      } else {
        expect(r.error.position).toBeGreaterThanOrEqual(0);
        expect(r.error.position).toBeLessThanOrEqual(Math.min(s.length, MAX_QUERY_LENGTH));
        expect(r.error.message).toContain("expected");
        expect(r.error.message).toMatch(/position \d+|at most/);
        const bad = s.search(/[^A-Za-z0-9._\-*:/() \t\n\v\f\r]/);
        if (s.length <= MAX_QUERY_LENGTH && bad >= 0) {
          expect(r.error.position).toBe(bad);
          expect(r.error.message).toMatch(/^invalid character/);
        }
      }
    }
    expect(valid).toBeGreaterThan(500);
    expect(valid).toBeLessThan(3500);
  });
});
