import type { RouteModule } from "../route";
import * as apisCreateApi from "./apis.createApi";
import * as apisDeleteApi from "./apis.deleteApi";
import * as apisGetApi from "./apis.getApi";
import * as apisListKeys from "./apis.listKeys";
import * as identitiesCreateIdentity from "./identities.createIdentity";
import * as identitiesDeleteIdentity from "./identities.deleteIdentity";
import * as identitiesGetIdentity from "./identities.getIdentity";
import * as identitiesListIdentities from "./identities.listIdentities";
import * as identitiesUpdateIdentity from "./identities.updateIdentity";
import * as keysCreateKey from "./keys.createKey";
import * as keysDeleteKey from "./keys.deleteKey";
import * as keysGetKey from "./keys.getKey";
import * as keysRerollKey from "./keys.rerollKey";
import * as keysUpdateCredits from "./keys.updateCredits";
import * as keysUpdateKey from "./keys.updateKey";
import * as keysVerifyKey from "./keys.verifyKey";
import * as keysWhoami from "./keys.whoami";
import * as ratelimitDeleteOverride from "./ratelimit.deleteOverride";
import * as ratelimitGetOverride from "./ratelimit.getOverride";
import * as ratelimitLimit from "./ratelimit.limit";
import * as ratelimitListOverrides from "./ratelimit.listOverrides";
import * as ratelimitMultiLimit from "./ratelimit.multiLimit";
import * as ratelimitSetOverride from "./ratelimit.setOverride";

/** Every operation, registered in this order. A test checks that each route file is listed here. */
export const routes: RouteModule[] = [
  apisCreateApi,
  apisGetApi,
  apisDeleteApi,
  apisListKeys,
  keysCreateKey,
  keysGetKey,
  keysWhoami,
  keysUpdateKey,
  keysUpdateCredits,
  keysDeleteKey,
  keysRerollKey,
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
];
