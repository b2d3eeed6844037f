/**
 * `npm run deploy -- --env staging|production`: applies D1 migrations to the environment's remote database,
 * then deploys the Worker with `wrangler deploy --env <name>`.
 */
import { fail, parseTarget, wrangler } from "./lib";

try {
  const target = parseTarget(process.argv.slice(2));
  if (target.kind !== "remote") throw new Error("deploy needs --env staging or --env production");
  wrangler(["d1", "migrations", "apply", "DB", "--remote", "--env", target.env]);
  wrangler(["deploy", "--env", target.env]);
} catch (err) {
  fail(err);
}
