import type { Context } from "hono";
import type { App } from "../app";
import type { HonoEnv } from "../context";
import type { AuditContext } from "../lib/audit";
import type { Principal } from "../lib/verify";

/** A route module: one operation, registered by the loop in routes/v2/index.ts. */
export type RouteModule = { operationId: string; register(app: App): void };

export function meta(c: Context<HonoEnv>): { requestId: string } {
  return { requestId: c.get("requestId") };
}

/**
 * Who is asking, from where, in which request: what every audit event of the request carries. Services
 * get this plain object, never the hono Context. The address is Cloudflare's `CF-Connecting-IP` (kept only
 * if it parses as an IP); the user agent is capped and anything in it that looks like a key is redacted.
 */
export function auditContext(c: Context<HonoEnv>, principal: Principal): AuditContext {
  return {
    workspaceId: principal.workspaceId,
    actor: { type: "rootkey", id: principal.keyId },
    remoteIp: c.req.header("CF-Connecting-IP") ?? null,
    userAgent: c.req.header("User-Agent") ?? null,
    requestId: c.get("requestId"),
  };
}

export const ROOT_KEY_SECURITY = [{ rootKey: [] }];
