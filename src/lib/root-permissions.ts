/**
 * Root-key permissions in Unkey's tuple format `<resourceType>.<resourceId>.<action>`, matched as exact
 * strings: `*` is a literal id meaning "every resource of this type", never a glob. A handler asks for
 * `type.*.action` or `type.<id>.action`, and either one grants.
 */
export const ROOT_ACTIONS = {
  api: [
    "read_api",
    "create_api",
    "delete_api",
    "update_api",
    "create_key",
    "update_key",
    "delete_key",
    "encrypt_key",
    "decrypt_key",
    "read_key",
    "verify_key",
    "read_analytics",
  ],
  ratelimit: [
    "limit",
    "create_namespace",
    "read_namespace",
    "update_namespace",
    "delete_namespace",
    "set_override",
    "read_override",
    "delete_override",
    "read_analytics",
  ],
  rbac: [
    "create_permission",
    "update_permission",
    "delete_permission",
    "read_permission",
    "create_role",
    "update_role",
    "delete_role",
    "read_role",
    "add_permission_to_key",
    "remove_permission_from_key",
    "add_role_to_key",
    "remove_role_from_key",
    "add_permission_to_role",
    "remove_permission_from_role",
  ],
  identity: ["create_identity", "read_identity", "update_identity", "delete_identity"],
  /** Latch's own: managing root keys (Unkey does this only in its dashboard). */
  rootkey: ["create_root_key", "read_root_key", "delete_root_key"],
  /** Latch's own: reading the workspace's audit log (`auditlogs.listLogs`, `auditlogs.verifyChain`). */
  auditlog: ["read"],
  /**
   * Latch's own: operating the vault. `rewrap` re-wraps every workspace's data key under the first KEK
   * (`vault.rewrap`), the middle step of a KEK rotation. It acts on the whole deployment, so it is an
   * operator's permission; it reveals no key material and changes nothing a request can observe.
   */
  vault: ["rewrap"],
} as const;

export type RootResourceType = keyof typeof ROOT_ACTIONS;
export type RootAction<T extends RootResourceType> = (typeof ROOT_ACTIONS)[T][number];

/** Every wildcard tuple: what `npm run bootstrap` grants the first root key of a workspace. */
export const ALL_ROOT_PERMISSIONS: readonly string[] = (Object.keys(ROOT_ACTIONS) as RootResourceType[]).flatMap(
  (type) => ROOT_ACTIONS[type].map((action) => `${type}.*.${action}`),
);

/** The tuples that grant `action` on one resource: the wildcard one and, given an id, the specific one. */
export function grantsFor<T extends RootResourceType>(type: T, action: RootAction<T>, id?: string): string[] {
  return id ? [`${type}.*.${action}`, `${type}.${id}.${action}`] : [`${type}.*.${action}`];
}

/** True if the held permissions contain any of the wanted tuples (exact match). */
export function hasAny(held: ReadonlySet<string> | readonly string[], wanted: readonly string[]): boolean {
  const set = held instanceof Set ? held : new Set(held);
  return wanted.some((w) => set.has(w));
}

/**
 * Types whose permissions may name one resource (`api.<apiId>.…`, `ratelimit.<namespaceId>.…`). Every
 * handler checks the other types only as `type.*.action`, so a specific id there could never grant anything.
 */
export const SCOPED_ROOT_TYPES: readonly RootResourceType[] = ["api", "ratelimit"];

export type RootTuple = { type: RootResourceType; id: string; action: string };

/**
 * Parses a permission a root key may be given: `<type>.<id|*>.<action>` with a known type and action of
 * that type, and an id of `[a-zA-Z0-9_]` (at most 255) or `*`; a specific id only for a scoped type.
 * Returns the tuple, or a message saying what is wrong.
 */
export function parseRootPermission(permission: string): RootTuple | { error: string } {
  const parts = permission.split(".");
  if (parts.length !== 3) return { error: "expected <type>.<id|*>.<action>" };
  const [type, id, action] = parts as [string, string, string];
  if (!Object.hasOwn(ROOT_ACTIONS, type)) return { error: `unknown resource type "${type}"` };
  const t = type as RootResourceType;
  if (!(ROOT_ACTIONS[t] as readonly string[]).includes(action)) return { error: `unknown action "${action}" for ${t}` };
  if (id !== "*" && !/^[a-zA-Z0-9_]{1,255}$/.test(id)) return { error: "the id must be * or letters, digits and underscores" };
  if (id !== "*" && !SCOPED_ROOT_TYPES.includes(t)) return { error: `${t} permissions apply to every resource: use ${t}.*.${action}` };
  return { type: t, id, action };
}

/**
 * The requested tuples `held` does not cover, in request order. A holder can pass on what it holds exactly,
 * and its wildcard `type.*.action` covers `type.<id>.action` for any id, because that is exactly what the
 * wildcard already lets it do. Nothing else is covered, so a root key can never mint one stronger than itself.
 */
export function notGrantable(held: ReadonlySet<string> | readonly string[], requested: readonly RootTuple[]): string[] {
  const set = held instanceof Set ? held : new Set(held);
  return requested
    .filter((t) => !set.has(`${t.type}.${t.id}.${t.action}`) && !set.has(`${t.type}.*.${t.action}`))
    .map((t) => `${t.type}.${t.id}.${t.action}`);
}

/** What an operator's root key (of the internal workspace, `npm run bootstrap -- --operator`) holds. */
export const OPERATOR_PERMISSIONS: readonly string[] = ["vault.*.rewrap"];
