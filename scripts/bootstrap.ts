/**
 * `npm run bootstrap -- --local | --env <name> [--operator]`: creates a workspace and a root key holding every
 * permission (or, with --operator, a root key for deployment-wide operations such as vault.rewrap). The key is generated here, on the operator's machine; only its hash goes to D1. The last line
 * of output is `{"workspaceId":"ws_...","rootKey":"..."}`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { INTERNAL_WORKSPACE_ID, internalWorkspaceStatements, inlineStatement, rootKeyPlan, workspaceStatements } from "../src/lib/bootstrap";
import { newId } from "../src/lib/ids";
import { ALL_ROOT_PERMISSIONS, OPERATOR_PERMISSIONS } from "../src/lib/root-permissions";
import { fail, parseTarget, targetArgs, wrangler } from "./lib";

async function main(): Promise<void> {
  const target = parseTarget(process.argv.slice(2));
  const nameArg = process.argv.indexOf("--name");
  const name = nameArg >= 0 ? (process.argv[nameArg + 1] ?? "default") : "default";
  const now = Date.now();
  // --operator: a root key of Latch's internal workspace, holding only the deployment-wide operations
  // (today: vault.*.rewrap across every workspace). It administers no tenant.
  const operator = process.argv.includes("--operator");
  const workspaceId = operator ? INTERNAL_WORKSPACE_ID : newId("ws", now);
  const plan = await rootKeyPlan({
    workspaceId,
    permissions: operator ? OPERATOR_PERMISSIONS : ALL_ROOT_PERMISSIONS,
    name: operator ? "operator" : "bootstrap",
    now,
  });
  const sql = [...internalWorkspaceStatements(now), ...(operator ? [] : workspaceStatements(workspaceId, name, now)), ...plan.statements]
    .map(inlineStatement)
    .join("\n");

  const dir = mkdtempSync(path.join(tmpdir(), "latch-bootstrap-"));
  const file = path.join(dir, "bootstrap.sql");
  try {
    writeFileSync(file, sql, { mode: 0o600 });
    // Migrations are idempotent; applying them first means bootstrap works on a fresh checkout too.
    wrangler(["d1", "migrations", "apply", "DB", ...targetArgs(target), ...(target.kind === "local" ? ["--persist-to", ".wrangler/state"] : [])], { quiet: true });
    wrangler(["d1", "execute", "DB", ...targetArgs(target), ...(target.kind === "local" ? ["--persist-to", ".wrangler/state"] : []), "--file", file, "--yes"], { quiet: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.error(`created workspace ${workspaceId} and root key ${plan.keyId}; the key is shown once, below`);
  console.log(JSON.stringify({ workspaceId, rootKey: plan.rootKey }));
}

main().catch(fail);
