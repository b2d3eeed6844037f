/**
 * Serving Workers for benchmarks: the bundle `wrangler deploy --dry-run --outdir` writes, run in workerd
 * through Miniflare's API with `unsafeDirectSockets` (no development proxy in front), bindings from
 * `unstable_getMiniflareWorkerOptions`, and local state persisted under a directory of ours.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { unstable_splitSqlQuery } from "wrangler";
import { internalWorkspaceStatements, rootKeyPlan, workspaceStatements, type Statement } from "../../src/lib/bootstrap";
import { newId } from "../../src/lib/ids";
import { ALL_ROOT_PERMISSIONS } from "../../src/lib/root-permissions";
import { WRANGLER } from "../../scripts/lib";
import { childPids } from "./proc";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");

/**
 * KV key of a verification record (docs/storage.md; `kvKey` in src/services/edge-records.ts). Repeated here
 * so the harness does not import the service layer, which may be mid-edit when benchmarking `--ref`.
 */
export const kvKey = (hash: string) => `key:hash:${hash}`;

export type D1 = Awaited<ReturnType<Miniflare["getD1Database"]>>;

/** `wrangler deploy --dry-run --outdir <outdir>` for a config (its top-level environment); returns the bundle. */
export function buildBundle(outdir: string, config: string): string {
  const args = [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "--config", config, "--env", ""];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, CI: "true" } });
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${r.stdout}\n${r.stderr}`);
  const main = readdirSync(outdir).find((f) => f.endsWith(".js"));
  if (!main) throw new Error(`no bundle in ${outdir}`);
  return path.join(outdir, main);
}

export type Served = { mf: Miniflare; pid: number; urls: Record<string, string> };

/**
 * Starts one Miniflare instance (one workerd process) and returns the workerd pid (the child process that
 * appeared while it started) and the direct URL of each named worker.
 */
export async function serve(options: MiniflareOptions, names: string[]): Promise<Served> {
  const before = new Set(childPids(process.pid, "workerd"));
  const mf = new Miniflare(options);
  await mf.ready;
  const spawned = childPids(process.pid, "workerd").filter((p) => !before.has(p));
  if (spawned.length !== 1) throw new Error(`expected one new workerd process, found ${spawned.length}`);
  const urls: Record<string, string> = {};
  for (const name of names) urls[name] = (await mf.unsafeGetDirectURL(name)).origin;
  return { mf, pid: spawned[0]!, urls };
}

/**
 * The Worker source to benchmark: the working tree, or with a git ref (`--ref HEAD`) a snapshot of that
 * commit's src/, migrations/ and wrangler.toml exported (git archive, read-only) under `into`, so a run is
 * reproducible while the working tree is being edited. Modules resolve from the project's node_modules.
 */
export type Source = { dir: string; config: string; migrations: string; ref?: string; commit?: string };

export function sourceTree(ref: string | undefined, into: string): Source {
  if (!ref) return { dir: ROOT, config: path.join(ROOT, "wrangler.toml"), migrations: path.join(ROOT, "migrations") };
  const commit = execFileSync("git", ["rev-parse", "--verify", `${ref}^{commit}`], { cwd: ROOT, encoding: "utf8" }).trim();
  mkdirSync(into, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", commit, "--", "src", "migrations", "wrangler.toml"], { cwd: ROOT, maxBuffer: 1 << 28 });
  execFileSync("tar", ["-x", "-C", into], { input: tar });
  return { dir: into, config: path.join(into, "wrangler.toml"), migrations: path.join(into, "migrations"), ref, commit };
}

/** Applies every *.sql of a migrations directory, in order, to a D1 binding (the state is fresh each run). */
export async function applyMigrations(db: D1, dir: string): Promise<void> {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const statements = unstable_splitSqlQuery(readFileSync(path.join(dir, file), "utf8"));
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

async function run(db: D1, statements: Statement[]): Promise<void> {
  await db.batch(statements.map((s) => db.prepare(s.sql).bind(...s.params)));
}

/**
 * A workspace with two root keys, through the same SQL plans `npm run bootstrap` uses: `admin` holds every
 * permission (setup, createKey), `verifier` only `api.*.verify_key`, as a service that verifies keys would.
 */
export async function bootstrap(db: D1): Promise<{ workspaceId: string; admin: string; verifier: string }> {
  const now = Date.now();
  const workspaceId = newId("ws", now);
  await run(db, [...internalWorkspaceStatements(now), ...workspaceStatements(workspaceId, "bench", now)]);
  const admin = await rootKeyPlan({ workspaceId, permissions: ALL_ROOT_PERMISSIONS, name: "bench-admin", now });
  await run(db, admin.statements);
  const verifier = await rootKeyPlan({ workspaceId, permissions: ["api.*.verify_key"], name: "bench-verifier", now });
  await run(db, verifier.statements);
  return { workspaceId, admin: admin.rootKey, verifier: verifier.rootKey };
}

/** A POST to Latch's v2 API; throws on anything but 200. */
export async function call<T = any>(base: string, op: string, rootKey: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}/v2/${op}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${op} answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { data: T }).data;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
