/**
 * `npm run vault:rewrap -- --local | --env <name> --url <worker url>`: the middle step of a KEK rotation.
 *
 * It asks the running Worker to re-wrap every vault data key under the first KEK of its
 * `VAULT_MASTER_KEYS` (`POST /v2/vault.rewrap`, page by page), so no key material ever leaves the Worker
 * and the KEKs never need to be on this machine. Then it reads `vault_deks` straight from the environment's
 * D1 (`wrangler d1 execute`) and confirms that every data key names that KEK: only then is it safe to
 * remove the old one. Exit status 1 if anything is left.
 *
 * The root key (holding `vault.*.rewrap`) comes from the LATCH_ROOT_KEY environment variable, never from
 * an argument, so it stays out of shell history and process listings. `--local` talks to `npm run dev`
 * on http://127.0.0.1:$PORT (8787); `--url` overrides it.
 */
import { spawnSync } from "node:child_process";
import { fail, parseTarget, targetArgs, WRANGLER, type Target } from "./lib";

type Page = { primaryKekId: string; rewrapped: number; failed: Array<{ dekId: string; code: string; message: string }>; remaining: number; cursor?: string };

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (!value || value.startsWith("--")) throw new Error(`${name} needs a value`);
  return value;
}

async function rewrapPage(url: string, rootKey: string, cursor: string | undefined): Promise<Page> {
  const res = await fetch(`${url.replace(/\/+$/, "")}/v2/vault.rewrap`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${rootKey}` },
    body: JSON.stringify(cursor ? { cursor } : {}),
  });
  const body = (await res.json().catch(() => undefined)) as { data?: Page; error?: { detail?: string } } | undefined;
  if (!res.ok || !body?.data) throw new Error(`vault.rewrap answered ${res.status}: ${body?.error?.detail ?? "no JSON body"}`);
  return body.data;
}

/** `SELECT kek_id, count(*)` over vault_deks, read from the target's D1 by wrangler (not through the Worker). */
function dataKeysByKek(target: Target): Array<{ kek_id: string; n: number }> {
  const args = ["d1", "execute", "DB", ...targetArgs(target), ...(target.kind === "local" ? ["--persist-to", ".wrangler/state"] : [])];
  args.push("--json", "--command", "SELECT kek_id, count(*) AS n FROM vault_deks GROUP BY kek_id ORDER BY kek_id");
  const out = spawnSync(process.execPath, [WRANGLER, ...args], { encoding: "utf8", env: { ...process.env, CI: "true" }, stdio: ["ignore", "pipe", "inherit"] });
  if (out.status !== 0) throw new Error(`wrangler d1 execute failed (exit ${out.status ?? out.signal})`);
  const parsed = JSON.parse(out.stdout) as Array<{ results: Array<{ kek_id: string; n: number }> }>;
  return parsed.flatMap((r) => r.results);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const target = parseTarget(argv);
  const url = option(argv, "--url") ?? (target.kind === "local" ? `http://127.0.0.1:${process.env.PORT ?? "8787"}` : undefined);
  if (!url) throw new Error("--env needs --url <the environment's Worker URL>, e.g. --url https://latch.example.com");
  const rootKey = process.env.LATCH_ROOT_KEY;
  if (!rootKey) throw new Error("set LATCH_ROOT_KEY to a root key holding vault.*.rewrap (npm run bootstrap prints one)");

  let primary = "";
  let rewrapped = 0;
  const failed: Page["failed"] = [];
  let cursor: string | undefined;
  do {
    const page = await rewrapPage(url, rootKey, cursor);
    primary = page.primaryKekId;
    rewrapped += page.rewrapped;
    failed.push(...page.failed);
    cursor = page.cursor;
  } while (cursor);
  console.error(`re-wrapped ${rewrapped} data key(s) under KEK "${primary}"`);
  for (const f of failed) console.error(`  could not re-wrap ${f.dekId}: ${f.code}: ${f.message}`);

  const byKek = dataKeysByKek(target);
  for (const row of byKek) console.error(`  ${row.n} data key(s) wrapped by "${row.kek_id}"${row.kek_id === primary ? " (first KEK)" : ""}`);
  const left = byKek.filter((r) => r.kek_id !== primary).reduce((sum, r) => sum + r.n, 0);
  if (left > 0 || failed.length > 0) {
    throw new Error(`${left} data key(s) are not wrapped by "${primary}" yet: keep every KEK they name in VAULT_MASTER_KEYS`);
  }
  console.error(`every data key is wrapped by "${primary}": the other KEKs can now be removed from VAULT_MASTER_KEYS`);
  console.log(JSON.stringify({ primaryKekId: primary, rewrapped, remaining: 0 }));
}

main().catch(fail);
