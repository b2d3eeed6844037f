/** Helpers shared by the operator scripts (Node, not the Worker). */
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

/** The project's own wrangler (pinned in package.json), run with Node. */
export const WRANGLER = path.join(path.dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");

/** Runs wrangler, failing loudly; `quiet` sends its output to stderr so stdout stays ours. */
export function wrangler(args: string[], opts: { quiet?: boolean; env?: NodeJS.ProcessEnv } = {}): void {
  const options: SpawnSyncOptions = {
    stdio: opts.quiet ? ["ignore", process.stderr, process.stderr] : "inherit",
    // Non-interactive: wrangler would otherwise ask before applying migrations.
    env: { ...process.env, CI: "true", ...opts.env },
  };
  const result = spawnSync(process.execPath, [WRANGLER, ...args], options);
  if (result.status !== 0) {
    throw new Error(`wrangler ${args.join(" ")} failed (exit ${result.status ?? result.signal})`);
  }
}

export type Target = { kind: "local" } | { kind: "remote"; env: string };

/** Parses `--local` or `--env NAME` (exactly one). */
export function parseTarget(argv: string[]): Target {
  const local = argv.includes("--local");
  const i = argv.indexOf("--env");
  const env = i >= 0 ? argv[i + 1] : undefined;
  if (i >= 0 && (!env || env.startsWith("--"))) throw new Error("--env needs an environment name, e.g. --env staging");
  if (local === (env !== undefined)) throw new Error("pass exactly one of --local or --env <name>");
  return env !== undefined ? { kind: "remote", env } : { kind: "local" };
}

export function targetArgs(target: Target): string[] {
  return target.kind === "local" ? ["--local"] : ["--remote", "--env", target.env];
}

export function fail(err: unknown): never {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
