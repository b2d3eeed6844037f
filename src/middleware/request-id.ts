import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../context";
import { newId } from "../lib/ids";

/** Every request gets a `req_…` id, returned in `meta.requestId` and logged with any failure. */
export function requestId(): MiddlewareHandler<HonoEnv> {
  return async function requestIdMiddleware(c, next) {
    c.set("requestId", newId("req"));
    await next();
  };
}
