import type { Context } from "hono";
import type { App } from "../app";
import type { HonoEnv } from "../context";

/** A route module: one operation, registered by the loop in routes/v2/index.ts. */
export type RouteModule = { operationId: string; register(app: App): void };

export function meta(c: Context<HonoEnv>): { requestId: string } {
  return { requestId: c.get("requestId") };
}

export const ROOT_KEY_SECURITY = [{ rootKey: [] }];
