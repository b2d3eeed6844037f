/**
 * The service container, built per request from the bindings. Construction is cheap and everything is
 * created on first use, so a liveness probe builds nothing.
 */
import { createDb, type Db } from "../db/client";
import type { Config } from "../env";
import { ApiService } from "./apis";
import { AuditService, DurableAuditClient, type AuditClient } from "./audit";
import { EdgeRecords } from "./edge-records";
import { IdentityService } from "./identities";
import { DurableKeyStateClient, DurableLimiterClient, type KeyStateClient, type LimiterClient } from "./key-state-client";
import { KeyRbacService } from "./key-rbac";
import { KeyService } from "./keys";
import { LeakService } from "./leaks";
import { RatelimitService } from "./ratelimit";
import { RootKeyService } from "./root-keys";
import { RbacService } from "./rbac";
import { VaultService } from "./vault";
import { VerifyService } from "./verify";

export type Clock = { now(): number };

/** Replacements tests use to force failures or control time, without mocking modules. */
export type ServiceOverrides = {
  clock?: Clock;
  keyState?: (env: Env) => KeyStateClient;
  limiter?: (env: Env) => LimiterClient;
  audit?: (env: Env) => AuditClient;
};

export type ServicesOptions = {
  env: Env;
  config: Config;
  waitUntil: (p: Promise<unknown>) => void;
  overrides?: ServiceOverrides;
};

export class Services {
  readonly now: () => number;
  private readonly memo = new Map<string, unknown>();

  constructor(private readonly o: ServicesOptions) {
    const clock = o.overrides?.clock ?? { now: () => Date.now() };
    this.now = () => clock.now();
  }

  private lazy<T>(name: string, make: () => T): T {
    if (!this.memo.has(name)) this.memo.set(name, make());
    return this.memo.get(name) as T;
  }

  get db(): Db {
    return this.lazy("db", () => createDb(this.o.env.DB));
  }

  get edge(): EdgeRecords {
    return this.lazy(
      "edge",
      () =>
        new EdgeRecords({
          db: this.db,
          kv: this.o.env.EDGE,
          cacheTtlMs: this.o.config.VERIFY_CACHE_TTL_MS,
          republishDelayMs: this.o.config.EDGE_REPUBLISH_DELAY_MS,
          now: this.now,
          waitUntil: this.o.waitUntil,
        }),
    );
  }

  get keyState(): KeyStateClient {
    return this.lazy("keyState", () => this.o.overrides?.keyState?.(this.o.env) ?? new DurableKeyStateClient(this.o.env.KEY_STATE));
  }

  get limiter(): LimiterClient {
    return this.lazy("limiter", () => this.o.overrides?.limiter?.(this.o.env) ?? new DurableLimiterClient(this.o.env.LIMITER));
  }

  /** The workspace audit log; one per request, so the request's events share one correlation id. */
  get audit(): AuditService {
    return this.lazy("audit", () => {
      const client = this.o.overrides?.audit?.(this.o.env) ?? new DurableAuditClient(this.o.env.AUDIT_LOG, this.now);
      return new AuditService({ db: this.db, client, now: this.now });
    });
  }

  /** Relays the audit events this request staged (the services middleware calls it after the handler). */
  async flushAudit(): Promise<void> {
    const audit = this.memo.get("audit") as AuditService | undefined;
    if (audit) await audit.flush();
  }

  get keys(): KeyService {
    return this.lazy("keys", () => new KeyService({ db: this.db, edge: this.edge, keyState: this.keyState, vault: this.vault, audit: this.audit, now: this.now }));
  }

  /** Cheap to build: the KEKs are imported on first use, once per isolate. */
  get vault(): VaultService {
    return this.lazy("vault", () => new VaultService({ db: this.db, secret: this.o.env.VAULT_MASTER_KEYS, audit: this.audit, now: this.now }));
  }

  get keyRbac(): KeyRbacService {
    return this.lazy("keyRbac", () => new KeyRbacService({ db: this.db, edge: this.edge, keyState: this.keyState, audit: this.audit, now: this.now }));
  }

  get apis(): ApiService {
    return this.lazy("apis", () => new ApiService({ db: this.db, edge: this.edge, keyState: this.keyState, audit: this.audit, now: this.now }));
  }

  get identities(): IdentityService {
    return this.lazy("identities", () => new IdentityService({ db: this.db, edge: this.edge, keyState: this.keyState, audit: this.audit, now: this.now }));
  }

  get rbac(): RbacService {
    return this.lazy("rbac", () => new RbacService({ db: this.db, edge: this.edge, keyState: this.keyState, audit: this.audit, now: this.now }));
  }

  get ratelimits(): RatelimitService {
    return this.lazy("ratelimits", () => new RatelimitService({ db: this.db, limiter: this.limiter, audit: this.audit, now: this.now }));
  }

  get rootKeys(): RootKeyService {
    return this.lazy("rootKeys", () => new RootKeyService({ db: this.db, d1: this.o.env.DB, edge: this.edge, audit: this.audit, now: this.now }));
  }

  /** Leaked-key reports (GitHub secret scanning); the public keys come from configuration. */
  get leaks(): LeakService {
    return this.lazy(
      "leaks",
      () => new LeakService({ db: this.db, keys: this.keys, rootKeys: this.rootKeys, publicKeys: this.o.config.GITHUB_SECRET_SCANNING_KEYS }),
    );
  }

  get verifier(): VerifyService {
    return this.lazy(
      "verifier",
      () =>
        new VerifyService({
          db: this.db,
          edge: this.edge,
          keyState: this.keyState,
          limiter: this.limiter,
          now: this.now,
          waitUntil: this.o.waitUntil,
        }),
    );
  }
}
