import type { Principal } from "./lib/verify";
import type { Services } from "./services";

export type HonoEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    services: Services;
    principal?: Principal;
  };
};
