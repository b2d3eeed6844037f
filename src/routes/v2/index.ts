import type { RouteModule } from "../route";
import * as apisCreateApi from "./apis.createApi";
import * as apisDeleteApi from "./apis.deleteApi";
import * as apisGetApi from "./apis.getApi";
import * as apisListKeys from "./apis.listKeys";
import * as keysCreateKey from "./keys.createKey";
import * as keysDeleteKey from "./keys.deleteKey";
import * as keysGetKey from "./keys.getKey";
import * as keysRerollKey from "./keys.rerollKey";
import * as keysUpdateCredits from "./keys.updateCredits";
import * as keysUpdateKey from "./keys.updateKey";
import * as keysVerifyKey from "./keys.verifyKey";
import * as keysWhoami from "./keys.whoami";

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
];
