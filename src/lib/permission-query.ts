/**
 * The permission query language of keys.verifyKey's `permissions` field (Unkey v2, `pkg/rbac`).
 *
 * Grammar (whitespace between tokens is skipped: space, tab, LF, VT, FF, CR):
 *
 *     query      := expr END
 *     expr       := and ( OR and )*
 *     and        := primary ( AND primary )*
 *     primary    := PERMISSION | "(" expr ")"
 *     PERMISSION := a run of [A-Za-z0-9._\-*:/] that is not a keyword
 *     AND, OR    := the words "and" / "or" in any case, as a whole run: `ANDROID.read` and `orders.read`
 *                   are permissions, `And` and `oR` are keywords
 *
 * AND binds tighter than OR (`a OR b AND c` is `a OR (b AND c)`) and both are left-associative. Any other
 * character is an error naming it and its position. Positions are 0-based UTF-16 indexes into the text.
 *
 * Matching is exact string equality of slugs: `*` is NOT a wildcard (Unkey's implementation is literal,
 * whatever its createKey docs say), so a held `documents.*` does not satisfy `documents.read`.
 *
 * Limits: the text is at most MAX_QUERY_LENGTH characters (checked before tokenising, so a huge input costs
 * nothing), and parentheses nest at most MAX_NESTING_DEPTH levels, which bounds the parser's recursion and
 * the depth of every tree it returns. Unkey has no depth limit; no real query comes near 100 levels.
 * Neither function throws: syntax errors are data, mapped by the route to `permissions_query_syntax_error`.
 */

/** The longest query accepted, in UTF-16 code units (Unkey's spec: 1000 characters). */
export const MAX_QUERY_LENGTH = 1000;

/** The deepest parenthesis nesting accepted; a deeper `(` is a syntax error. */
export const MAX_NESTING_DEPTH = 100;

/**
 * A parsed query. `perm` is a leaf satisfied by holding exactly `slug`. `and`/`or` nodes from the parser
 * always have at least two children, and never a child of their own kind: `a AND (b AND c)` and
 * `(a AND b) AND c` both become `and[a, b, c]` (same meaning), and redundant parentheses such as `((a))`
 * leave no trace. Hand-built trees may break these rules; the evaluator still accepts them.
 */
export type PermissionQuery = { kind: "perm"; slug: string } | { kind: "and" | "or"; children: PermissionQuery[] };

/** A syntax error: a message saying what was expected and found, and the 0-based position it refers to. */
export type PermissionQueryError = { message: string; position: number };

/** The result of parsePermissionQuery. */
export type ParsePermissionQueryResult = { ok: true; query: PermissionQuery } | { ok: false; error: PermissionQueryError };

/** The result of evaluatePermissionQuery; `missing` describes what would have satisfied the query. */
export type PermissionQueryEvaluation = { ok: true } | { ok: false; missing: string };

type TokenType = "perm" | "and" | "or" | "(" | ")" | "end";
type Token = { type: TokenType; text: string; position: number };
type Step<T> = { ok: true; value: T } | { ok: false; error: PermissionQueryError };

function isIdentChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || // 0-9
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    c === 46 || // .
    c === 95 || // _
    c === 45 || // -
    c === 42 || // *
    c === 58 || // :
    c === 47 // /
  );
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function hex(cp: number): string {
  return "U+" + cp.toString(16).toUpperCase().padStart(4, "0");
}

/** Names the character at `i` so that invisible ones (controls, lone surrogates, NBSP…) are still legible. */
function describeChar(text: string, i: number): string {
  const cp = text.codePointAt(i)!;
  if (cp > 0x20 && cp < 0x7f) return `'${String.fromCharCode(cp)}'`;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || (cp >= 0xd800 && cp <= 0xdfff)) return hex(cp);
  return `'${String.fromCodePoint(cp)}' (${hex(cp)})`;
}

function describeToken(t: Token): string {
  if (t.type === "end") return "end of query";
  if (t.type === "perm" && t.text.length > 40) return `'${t.text.slice(0, 40)}…'`;
  return `'${t.text}'`;
}

const fail = (message: string, position: number): { ok: false; error: PermissionQueryError } => ({
  ok: false,
  error: { message, position },
});

function tokenize(text: string): Step<Token[]> {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
    } else if (c === 40 || c === 41) {
      tokens.push({ type: c === 40 ? "(" : ")", text: text[i]!, position: i });
      i++;
    } else if (isIdentChar(c)) {
      const start = i;
      while (i < text.length && isIdentChar(text.charCodeAt(i))) i++;
      const word = text.slice(start, i);
      const lower = word.toLowerCase();
      const type = lower === "and" ? "and" : lower === "or" ? "or" : "perm";
      tokens.push({ type, text: word, position: start });
    } else {
      return fail(
        `invalid character ${describeChar(text, i)} at position ${i}: expected a permission ` +
          `(letters, digits and . _ - * : /), AND, OR, '(' or ')'`,
        i,
      );
    }
  }
  tokens.push({ type: "end", text: "", position: text.length });
  return { ok: true, value: tokens };
}

/** Joins operands of one operator, splicing in same-kind children so that trees stay flat. */
function combine(kind: "and" | "or", parts: PermissionQuery[]): PermissionQuery {
  if (parts.length === 1) return parts[0]!;
  const children: PermissionQuery[] = [];
  for (const p of parts) {
    if (p.kind === kind) children.push(...p.children);
    else children.push(p);
  }
  return { kind, children };
}

/** Recursive descent over the token list. Recursion is three frames per '(' and '(' is capped. */
function parseTokens(tokens: Token[]): Step<PermissionQuery> {
  let pos = 0;
  const peek = (): Token => tokens[pos]!;

  // An operand (permission or '(') was expected at `tok`; say why it is not there.
  function operandExpected(tok: Token): { ok: false; error: PermissionQueryError } {
    const prev = pos > 0 ? tokens[pos - 1] : undefined;
    const where = `expected a permission or '(' at position ${tok.position}`;
    const after = prev && (prev.type === "and" || prev.type === "or") ? ` after '${prev.text}'` : "";
    const found = `, found ${describeToken(tok)}`;
    let why: string;
    if (tok.type === "end" && !prev) why = "empty query";
    else if (tok.type === ")" && prev?.type === "(") why = "empty parentheses";
    else if ((tok.type === "and" || tok.type === "or") && after) why = "two operators in a row";
    else if (tok.type === "and" || tok.type === "or") why = "leading operator";
    else if (tok.type === "end" && after) why = "trailing operator";
    else if (tok.type === "end") why = "missing ')'";
    else why = "unexpected ')'";
    return fail(`${why}: ${where}${after}${found}`, tok.position);
  }

  function parsePrimary(depth: number): Step<PermissionQuery> {
    const tok = peek();
    if (tok.type === "perm") {
      pos++;
      return { ok: true, value: { kind: "perm", slug: tok.text } };
    }
    if (tok.type !== "(") return operandExpected(tok);
    if (depth >= MAX_NESTING_DEPTH) {
      return fail(
        `parentheses nested too deeply: expected at most ${MAX_NESTING_DEPTH} levels, ` +
          `found level ${depth + 1} opened at position ${tok.position}`,
        tok.position,
      );
    }
    pos++;
    const inner = parseExpr(depth + 1);
    if (!inner.ok) return inner;
    const close = peek();
    if (close.type === ")") {
      pos++;
      return inner;
    }
    if (close.type === "end") {
      return fail(
        `missing ')': expected ')' at position ${close.position} to close the '(' at position ${tok.position}, ` +
          `found end of query`,
        close.position,
      );
    }
    // parseExpr stops only before ')', end, a permission or '(' (operators are always consumed).
    return fail(
      `missing operator: expected AND, OR or ')' at position ${close.position}, found ${describeToken(close)}`,
      close.position,
    );
  }

  function parseAnd(depth: number): Step<PermissionQuery> {
    const parts: PermissionQuery[] = [];
    for (;;) {
      const p = parsePrimary(depth);
      if (!p.ok) return p;
      parts.push(p.value);
      if (peek().type !== "and") return { ok: true, value: combine("and", parts) };
      pos++;
    }
  }

  function parseExpr(depth: number): Step<PermissionQuery> {
    const parts: PermissionQuery[] = [];
    for (;;) {
      const p = parseAnd(depth);
      if (!p.ok) return p;
      parts.push(p.value);
      if (peek().type !== "or") return { ok: true, value: combine("or", parts) };
      pos++;
    }
  }

  const result = parseExpr(0);
  if (!result.ok) return result;
  const rest = peek();
  if (rest.type === "end") return result;
  if (rest.type === ")") {
    return fail(
      `unexpected ')': expected AND, OR or end of query at position ${rest.position}, found ')' with no matching '('`,
      rest.position,
    );
  }
  return fail(
    `missing operator: expected AND, OR or end of query at position ${rest.position}, found ${describeToken(rest)}`,
    rest.position,
  );
}

/**
 * Parses a permission query such as `documents.read AND (documents.write OR admin)`.
 *
 * Never throws, whatever the input: a syntax error comes back as `{ok:false, error:{message, position}}`,
 * where the message says what was expected, where, and what was found, e.g.
 * "leading operator: expected a permission or '(' at position 0, found 'AND'". Text longer than
 * MAX_QUERY_LENGTH is refused before it is tokenised; nesting deeper than MAX_NESTING_DEPTH is refused.
 */
export function parsePermissionQuery(text: string): ParsePermissionQueryResult {
  if (typeof text !== "string") return fail("expected the permission query to be a string", 0);
  if (text.length > MAX_QUERY_LENGTH) {
    return fail(
      `query too long: expected at most ${MAX_QUERY_LENGTH} characters, found ${text.length}`,
      MAX_QUERY_LENGTH,
    );
  }
  const tokens = tokenize(text);
  if (!tokens.ok) return tokens;
  const parsed = parseTokens(tokens.value);
  return parsed.ok ? { ok: true, query: parsed.value } : parsed;
}

type Missing = { text: string; compound: boolean };

const wrap = (m: Missing): string => (m.compound ? `(${m.text})` : m.text);

/** What is missing for `q` to hold, or undefined if it holds. Evaluates every branch (no short-circuit) to describe all gaps. */
function missingFor(q: PermissionQuery, held: ReadonlySet<string>): Missing | undefined {
  if (q.kind === "perm") return held.has(q.slug) ? undefined : { text: q.slug, compound: false };
  const misses: Missing[] = [];
  for (const child of q.children) {
    const m = missingFor(child, held);
    if (m) misses.push(m);
    else if (q.kind === "or") return undefined;
  }
  if (q.kind === "and") {
    if (misses.length === 0) return undefined;
    if (misses.length === 1) return misses[0];
    return { text: misses.map(wrap).join(" and "), compound: true };
  }
  if (misses.length === 0) return { text: "one of: (nothing)", compound: false };
  if (misses.length === 1) return misses[0];
  return { text: "one of: " + misses.map(wrap).join(", "), compound: true };
}

/**
 * Decides whether a key holding the permission slugs `held` (direct ∪ role permissions) satisfies `query`.
 * A leaf holds only if its exact slug is in `held`: `*` is not a wildcard.
 *
 * On failure, `missing` describes what would have satisfied the query, for the response and logs. Only the
 * unsatisfied parts of an AND are listed, an OR lists every alternative, and compound parts are
 * parenthesised: "documents.write", "documents.read and documents.write", "one of: a, b",
 * "a and (one of: b, c)", "one of: (a and b), c". An empty AND (hand-built only) holds; an empty OR does not.
 * Recursion follows the tree's depth, which the parser caps at about MAX_NESTING_DEPTH.
 */
export function evaluatePermissionQuery(query: PermissionQuery, held: ReadonlySet<string>): PermissionQueryEvaluation {
  const m = missingFor(query, held);
  return m ? { ok: false, missing: m.text } : { ok: true };
}
