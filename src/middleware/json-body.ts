import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../context";
import { ApiError } from "../lib/errors";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads and parses a POST body once, before validation: a body over the cap, one that is not JSON, or one
 * sent without a JSON content type is a 400 in the documented format. The parsed text stays cached on the
 * request, so the route's validator reads it from memory.
 */
export function jsonBody(opts: { maxBytes?: number } = {}): MiddlewareHandler<HonoEnv> {
  const maxBytes = opts.maxBytes ?? MAX_BODY_BYTES;
  return async function jsonBodyMiddleware(c, next) {
    if (c.req.method !== "POST") return next();
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxBytes) throw tooLarge(maxBytes);
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/(?:[\w.-]+\+)?json\b/i.test(type)) {
      throw new ApiError("INVALID_INPUT", "The request body must be JSON, sent with `Content-Type: application/json`.", [
        { location: "header.content-type", message: `expected application/json, got ${type ? JSON.stringify(type) : "nothing"}` },
      ]);
    }
    const text = await readCapped(c.req.raw, maxBytes, declared);
    // Parsed once, here; hono's validator reads the parsed value from its body cache.
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ApiError("BODY_UNREADABLE", "The request body is not valid JSON.", [
        { location: "body", message: err instanceof Error ? err.message : "invalid JSON" },
      ]);
    }
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    // hono's validator calls c.req.json(), which would parse the text a second time.
    (c.req as unknown as { json: () => Promise<unknown> }).json = () => Promise.resolve(parsed);
    await next();
  };
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Reads the body, refusing it as soon as it passes the cap: a huge upload is never buffered. A body whose
 * length is declared (and within the cap; the runtime enforces Content-Length) is read in one call.
 */
async function readCapped(req: Request, maxBytes: number, declared: number): Promise<string> {
  if (!req.body) return "";
  if (declared > 0) return decode(new Uint8Array(await req.arrayBuffer()));
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decode(bytes);
}

function decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ApiError("BODY_UNREADABLE", "The request body is not valid UTF-8.", [{ location: "body", message: "invalid UTF-8" }]);
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError("BODY_TOO_LARGE", `The request body exceeds ${maxBytes} bytes.`, [
    { location: "body", message: `at most ${maxBytes} bytes are accepted` },
  ]);
}
