/**
 * Test harness: every test file calls `await Harness.init()`, which creates a fresh workspace with an
 * all-permission root key and an API, all with random ids (storage is shared within a file, so no test
 * may assume empty tables or another test's rows). Requests go through the Worker's real fetch handler,
 * with real D1, KV and Durable Objects.
 */
import { Unkey } from "@unkey/api";
import { HTTPClient } from "@unkey/api/lib/http";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createApp, type CreateAppOptions } from "../src/app";
import {
  INTERNAL_WORKSPACE_ID,
  internalWorkspaceStatements,
  rootKeyPlan,
  workspaceStatements,
  type Statement,
} from "../src/lib/bootstrap";
import { newId } from "../src/lib/ids";
import { ALL_ROOT_PERMISSIONS } from "../src/lib/root-permissions";

export const BASE_URL = "http://latch.test";

/**
 * The Worker's own app (src/index.ts exports exactly this), called in-process. Going through
 * `exports.default.fetch` instead gets slower with every call a test file makes in vitest-pool-workers
 * 0.15 (hundreds of calls: seconds each), while `app.fetch` stays flat.
 */
const app = createApp();

/** One request through the Worker, with an execution context whose background work finishes before returning. */
export async function workerFetch(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(request, env, ctx);
  const body = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(body, { status: res.status, headers: res.headers });
}

export type Reply<T = any> = { status: number; body: T; headers: Headers };

export type PostOptions = { key?: string | null; headers?: Record<string, string> };

async function run(statements: Statement[]): Promise<void> {
  await env.DB.batch(statements.map((s) => env.DB.prepare(s.sql).bind(...s.params)));
}

export class Harness {
  private constructor(
    readonly workspaceId: string,
    readonly rootKey: string,
    readonly apiId: string,
  ) {}

  /**
   * `quietLog: true` seeds the API straight into D1 instead of through apis.createApi, so the workspace's
   * audit log starts empty (for tests that assert the exact log).
   */
  static async init(opts: { quietLog?: boolean } = {}): Promise<Harness> {
    const { workspaceId, rootKey } = await Harness.createWorkspace();
    if (opts.quietLog) {
      const now = Date.now();
      const apiId = newId("api", now);
      const keyspaceId = newId("ks", now);
      await run([
        { sql: "INSERT INTO keyspaces (id, workspace_id, created_at) VALUES (?, ?, ?)", params: [keyspaceId, workspaceId, now] },
        { sql: "INSERT INTO apis (id, workspace_id, keyspace_id, name, created_at) VALUES (?, ?, ?, ?, ?)", params: [apiId, workspaceId, keyspaceId, "test-api", now] },
      ]);
      return new Harness(workspaceId, rootKey, apiId);
    }
    const api = await post<{ data: { apiId: string } }>("/v2/apis.createApi", { name: "test-api" }, rootKey);
    if (api.status !== 200) throw new Error(`createApi failed: ${JSON.stringify(api.body)}`);
    return new Harness(workspaceId, rootKey, api.body.data.apiId);
  }

  /** A new workspace and a root key holding every permission. */
  static async createWorkspace(): Promise<{ workspaceId: string; rootKey: string }> {
    const now = Date.now();
    const workspaceId = newId("ws", now);
    await run([...internalWorkspaceStatements(now), ...workspaceStatements(workspaceId, "test", now)]);
    const plan = await rootKeyPlan({ workspaceId, permissions: ALL_ROOT_PERMISSIONS, now });
    await run(plan.statements);
    return { workspaceId, rootKey: plan.rootKey };
  }

  /** A root key for this workspace (or another) holding exactly `permissions`. */
  async createRootKey(permissions: readonly string[], workspaceId = this.workspaceId): Promise<string> {
    const plan = await rootKeyPlan({ workspaceId, permissions, now: Date.now() });
    await run(plan.statements);
    return plan.rootKey;
  }

  post<T = any>(path: string, body: unknown, opts: PostOptions = {}): Promise<Reply<T>> {
    const key = opts.key === undefined ? this.rootKey : opts.key;
    return post<T>(path, body, key, opts.headers);
  }

  async createApi(name = "another-api"): Promise<string> {
    const res = await this.post<{ data: { apiId: string } }>("/v2/apis.createApi", { name });
    if (res.status !== 200) throw new Error(`createApi failed: ${JSON.stringify(res.body)}`);
    return res.body.data.apiId;
  }

  async createKey(body: Record<string, unknown> = {}): Promise<{ keyId: string; key: string }> {
    const res = await this.post<{ data: { keyId: string; key: string } }>("/v2/keys.createKey", { apiId: this.apiId, ...body });
    if (res.status !== 200) throw new Error(`createKey failed: ${JSON.stringify(res.body)}`);
    return res.body.data;
  }

  async verify(key: string, rootKey = this.rootKey): Promise<{ valid: boolean; code: string; [k: string]: unknown }> {
    const res = await post<{ data: { valid: boolean; code: string } }>("/v2/keys.verifyKey", { key }, rootKey);
    if (res.status !== 200) throw new Error(`verifyKey failed: ${JSON.stringify(res.body)}`);
    return res.body.data;
  }

  /** Unkey's official SDK, talking to the Worker in-process. */
  sdk(rootKey = this.rootKey): Unkey {
    const httpClient = new HTTPClient({ fetcher: (input, init) => workerFetch(new Request(input, init)) });
    return new Unkey({ rootKey, serverURL: BASE_URL, httpClient, retryConfig: { strategy: "none" } });
  }
}

/**
 * A client of a Worker app built with test overrides (a clock, failing clients) and, optionally, other
 * vars or secrets (`{ VAULT_MASTER_KEYS: … }`): called like the real Worker, background work included.
 */
export function appClient(opts: CreateAppOptions = {}, envOverrides: Partial<Record<keyof Env, unknown>> = {}) {
  const custom = createApp(opts);
  const customEnv = { ...env, ...envOverrides } as Env;
  return async function call<T = any>(path: string, body: unknown, rootKey: string): Promise<Reply<T>> {
    const ctx = createExecutionContext();
    const res = await custom.fetch(
      new Request(BASE_URL + path, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` },
        body: JSON.stringify(body),
      }),
      customEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  };
}

export async function post<T = any>(path: string, body: unknown, key: string | null, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const init: RequestInit = {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
  const res = await workerFetch(new Request(BASE_URL + path, init));
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export { INTERNAL_WORKSPACE_ID };
