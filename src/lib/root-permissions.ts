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
