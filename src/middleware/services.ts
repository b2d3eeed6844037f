import type { MiddlewareHandler } from "hono";
import type { HonoEnv } from "../context";
import { readConfig } from "../env";
import { Services, type ServiceOverrides } from "../services";

export type ServicesMiddlewareOptions = ServiceOverrides;

/** Builds the request's service container (cheap: everything inside is created on first use). */
export function services(opts: ServicesMiddlewareOptions = {}): MiddlewareHandler<HonoEnv> {
  return async function servicesMiddleware(c, next) {
    let waitUntil: (p: Promise<unknown>) => void;
    try {
      const ctx = c.executionCtx;
      waitUntil = (p) => ctx.waitUntil(p);
    } catch {
      // No execution context (app.request in a unit test): run background work detached.
      waitUntil = (p) => void p.catch(() => undefined);
    }
    const config = readConfig(c.env as unknown as Record<string, unknown>);
    const services = new Services({ env: c.env, config, waitUntil, overrides: opts });
    c.set("services", services);
    await next();
    // After the handler (also one that failed after its commit), before the response leaves: move the
    // audit events the request committed to the outbox into the workspace's log. Never throws.
    await services.flushAudit();
  };
}
