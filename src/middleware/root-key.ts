import type { Context } from "hono";
import type { HonoEnv } from "../context";
import type { Principal } from "../lib/verify";
import { authenticateRootKey, requirePermission } from "../services/root-auth";

/**
 * The first line of every authenticated handler: resolves the root key and, given `wanted`, demands one of
 * those permission tuples (403 otherwise). Resource-specific checks follow once the resource is loaded.
 */
export async function requireRootKey(c: Context<HonoEnv>, wanted?: readonly string[]): Promise<Principal> {
  let principal = c.get("principal");
  if (!principal) {
    const services = c.get("services");
    principal = await authenticateRootKey(c.req.header("authorization"), services.edge, services.now);
    c.set("principal", principal);
  }
  if (wanted) requirePermission(principal, wanted);
  return principal;
}
