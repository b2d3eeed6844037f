import type { RouteModule } from "../route";
import * as apisCreateApi from "./apis.createApi";
import * as apisDeleteApi from "./apis.deleteApi";
import * as apisGetApi from "./apis.getApi";
import * as apisListKeys from "./apis.listKeys";
import * as apisUpdateApi from "./apis.updateApi";
import * as auditlogsListLogs from "./auditlogs.listLogs";
import * as auditlogsVerifyChain from "./auditlogs.verifyChain";
import * as githubSecretScanning from "./github.secretScanning";
import * as identitiesCreateIdentity from "./identities.createIdentity";
import * as identitiesDeleteIdentity from "./identities.deleteIdentity";
import * as identitiesGetIdentity from "./identities.getIdentity";
import * as identitiesListIdentities from "./identities.listIdentities";
import * as identitiesUpdateIdentity from "./identities.updateIdentity";
import * as keysAddPermissions from "./keys.addPermissions";
import * as keysAddRoles from "./keys.addRoles";
import * as keysCreateKey from "./keys.createKey";
import * as keysDeleteKey from "./keys.deleteKey";
import * as keysGetKey from "./keys.getKey";
import * as keysRemovePermissions from "./keys.removePermissions";
import * as keysRemoveRoles from "./keys.removeRoles";
import * as keysRerollKey from "./keys.rerollKey";
import * as keysSetPermissions from "./keys.setPermissions";
import * as keysSetRoles from "./keys.setRoles";
import * as keysUpdateCredits from "./keys.updateCredits";
import * as keysUpdateKey from "./keys.updateKey";
import * as keysVerifyKey from "./keys.verifyKey";
import * as keysWhoami from "./keys.whoami";
import * as permissionsCreatePermission from "./permissions.createPermission";
import * as permissionsCreateRole from "./permissions.createRole";
import * as permissionsDeletePermission from "./permissions.deletePermission";
import * as permissionsDeleteRole from "./permissions.deleteRole";
import * as permissionsGetPermission from "./permissions.getPermission";
import * as permissionsGetRole from "./permissions.getRole";
import * as permissionsListPermissions from "./permissions.listPermissions";
import * as permissionsListRoles from "./permissions.listRoles";
import * as permissionsSetRolePermissions from "./permissions.setRolePermissions";
import * as ratelimitDeleteOverride from "./ratelimit.deleteOverride";
import * as ratelimitGetOverride from "./ratelimit.getOverride";
import * as ratelimitLimit from "./ratelimit.limit";
import * as ratelimitListOverrides from "./ratelimit.listOverrides";
import * as ratelimitMultiLimit from "./ratelimit.multiLimit";
import * as ratelimitSetOverride from "./ratelimit.setOverride";
import * as rootKeysCreateRootKey from "./rootKeys.createRootKey";
import * as rootKeysDeleteRootKey from "./rootKeys.deleteRootKey";
import * as rootKeysListRootKeys from "./rootKeys.listRootKeys";
import * as vaultRewrap from "./vault.rewrap";

/** Every operation, registered in this order. A test checks that each route file is listed here. */
export const routes: RouteModule[] = [
  apisCreateApi,
  apisGetApi,
  apisDeleteApi,
  apisListKeys,
  apisUpdateApi,
  keysCreateKey,
  keysGetKey,
  keysWhoami,
  keysUpdateKey,
  keysUpdateCredits,
  keysDeleteKey,
  keysRerollKey,
  keysAddPermissions,
  keysSetPermissions,
  keysRemovePermissions,
  keysAddRoles,
  keysSetRoles,
  keysRemoveRoles,
  keysVerifyKey,
  identitiesCreateIdentity,
  identitiesGetIdentity,
  identitiesListIdentities,
  identitiesUpdateIdentity,
  identitiesDeleteIdentity,
  ratelimitLimit,
  ratelimitMultiLimit,
  ratelimitSetOverride,
  ratelimitGetOverride,
  ratelimitListOverrides,
  ratelimitDeleteOverride,
  permissionsCreatePermission,
  permissionsGetPermission,
  permissionsListPermissions,
  permissionsDeletePermission,
  permissionsCreateRole,
  permissionsGetRole,
  permissionsListRoles,
  permissionsDeleteRole,
  permissionsSetRolePermissions,
  rootKeysCreateRootKey,
  rootKeysListRootKeys,
  rootKeysDeleteRootKey,
  auditlogsListLogs,
  auditlogsVerifyChain,
  vaultRewrap,
  githubSecretScanning,
];
