/**
 * `npm run bench`: Latch's hot paths against the physical limit (bench/minimal-worker) and a peer
 * (better-auth's API-key plugin, bench/peers/better-auth), in one run on this machine.
 *
 * Latch and the minimal Worker are built with `wrangler deploy --dry-run --outdir` and served by workerd
 * through Miniflare's API with direct sockets (each in its own workerd process); Latch gets its bindings
 * from wrangler.toml and local state under bench/.state (fresh each run). autocannon drives every scenario
 * in turn, round after round, after a warm-up round; each figure is the median over the rounds. CPU time per
 * request is the server process's utime + stime (/proc/<pid>/stat) over the run, divided by its requests.
 *
 * Options: --rounds N (5) --duration S (5) --warmup S (2) --connections N (8) --out FILE
 *          (bench/results.json) --only a,b (scenario names) --profile (CPU profiles of Latch, see profile.ts)
 *          --ref REV (benchmark a commit's src/ instead of the working tree, e.g. --ref HEAD)
 */
import { spawn, execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { hashKey } from "../src/lib/hash";
import { median, runLoad, type LoadResult, type RequestSpec } from "./lib/load";
import { clockTicksPerSecond, loadAverage } from "./lib/proc";
import { applyMigrations, bootstrap, buildBundle, call, kvKey, ROOT, serve, sleep, sourceTree, type Served } from "./lib/workerd";
import { profileScenario, type ProfileSummary } from "./lib/profile";

type Args = { rounds: number; duration: number; warmup: number; connections: number; out: string; only?: string[]; profile: boolean; ref?: string };

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number) => {
    const v = get(name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number`);
    return n;
  };
  const only = get("only");
  const ref = get("ref");
  return {
    ...(ref ? { ref } : {}),
    rounds: num("rounds", 5),
    duration: num("duration", 5),
    warmup: num("warmup", 2),
    connections: num("connections", 8),
    out: path.resolve(get("out") ?? path.join(ROOT, "bench", "results.json")),
    ...(only ? { only: only.split(",") } : {}),
    profile: argv.includes("--profile"),
  };
}

type Target = { url: string; pid: number; label: "latch" | "minimal" | "peer" };

type Scenario = {
  name: string;
  title: string;
  target: Target;
  /** The request to load; may depend on state set up by earlier scenarios of the same round. */
  request: () => RequestSpec;
  /** Exactly this many requests instead of a duration (distinct inputs); 0 skips the run. */
  amount?: () => number;
  /** One request before each run, asserting the answer is the one the scenario means to measure. */
  probe?: () => Promise<void>;
  /** Runs before each load (e.g. waits for caches to expire). */
  before?: () => Promise<void>;
  after?: (r: LoadResult) => void;
};

/**
 * The order within a round. Each ratio's two sides run next to each other (warm verify, the minimal Worker,
 * the rate-limited verify, the minimal Worker with an object call), so drifting load on a shared machine
 * touches both alike. verify-cold-kv must start after the isolate cache of verify-cold-d1's keys expired
 * and before their KV back-fills do (60 s).
 */
const SCENARIO_ORDER = [
  "createKey",
  "verify-cold-d1",
  "liveness",
  "verify-warm",
  "minimal",
  "verify-ratelimit",
  "minimal-do",
  "peer-verify",
  "verify-cold-kv",
  "peer-verify-ratelimit",
  "verify-credits",
  "verify-unknown",
];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const benchDir = path.join(ROOT, "bench");
  const stateDir = path.join(benchDir, ".state");
  const distDir = path.join(benchDir, "dist");
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(distDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  const source = sourceTree(args.ref, path.join(distDir, "source"));
  log(`building bundles (wrangler deploy --dry-run) from ${source.ref ? `${source.ref} (${source.commit!.slice(0, 7)})` : "the working tree"}`);
  const latchBundle = buildBundle(path.join(distDir, "latch"), source.config);
  const minimalBundle = buildBundle(path.join(distDir, "minimal"), path.join(benchDir, "minimal-worker", "wrangler.toml"));

  const { workerOptions } = unstable_getMiniflareWorkerOptions(source.config);
  const cacheTtlMs = Number(workerOptions.bindings?.VERIFY_CACHE_TTL_MS ?? 5000);

  log("starting Latch and the minimal Worker in workerd (Miniflare, direct sockets)");
  const latch: Served = await serve(
    {
      defaultPersistRoot: stateDir,
      ...(args.profile ? { inspectorPort: 0 } : {}),
      workers: [
        {
          ...workerOptions,
          name: "latch",
          modules: true,
          scriptPath: latchBundle,
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        },
      ],
    },
    ["latch"],
  );
  const minimalConfig = path.join(benchDir, "minimal-worker", "wrangler.toml");
  const minimal: Served = await serve(
    {
      defaultPersistRoot: path.join(stateDir, "minimal"),
      workers: [
        {
          ...unstable_getMiniflareWorkerOptions(minimalConfig).workerOptions,
          name: "minimal",
          modules: true,
          scriptPath: minimalBundle,
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        },
      ],
    },
    ["minimal"],
  );

  log("starting the peer (better-auth + @better-auth/api-key, Node, SQLite)");
  const peer = await startPeer(path.join(stateDir, "peer.sqlite"));

  const cleanup = async () => {
    peer.kill();
    await Promise.allSettled([latch.mf.dispose(), minimal.mf.dispose()]);
  };

  try {
    const L = latch.urls.latch!;
    const db = await latch.mf.getD1Database("DB");
    const kv = await latch.mf.getKVNamespace("EDGE");
    await applyMigrations(db, source.migrations);
    const { admin, verifier } = await bootstrap(db);
    const { apiId } = await call<{ apiId: string }>(L, "apis.createApi", admin, { name: "bench" });
    const create = (body: object) => call<{ keyId: string; key: string }>(L, "keys.createKey", admin, { apiId, prefix: "sk", ...body });
    const plain = await create({ name: "warm" });
    const limited = await create({
      name: "ratelimited",
      ratelimits: [{ name: "requests", limit: 1_000_000_000, duration: 60_000, autoApply: true }],
    });
    const credited = await create({ name: "credits", credits: { remaining: 1_000_000_000_000 } });
    const unknownKey = "sk_" + "x".repeat(22);
    await minimalSeed(minimal.urls.minimal!, verifier, plain.key);

    const latchT: Target = { url: L, pid: latch.pid, label: "latch" };
    const minimalT: Target = { url: minimal.urls.minimal!, pid: minimal.pid, label: "minimal" };
    const peerT: Target = { url: peer.url, pid: peer.pid, label: "peer" };

    const json = { "content-type": "application/json" };
    const bearer = (k: string) => ({ ...json, authorization: `Bearer ${k}` });
    const verifyBody = (key: string): RequestSpec => ({
      method: "POST",
      path: "/v2/keys.verifyKey",
      headers: bearer(verifier),
      body: JSON.stringify({ key }),
    });
    const expectCode = (key: string, code: string, extra?: (d: any) => string | undefined) => async () => {
      const d = await call<any>(L, "keys.verifyKey", verifier, { key });
      if (d.code !== code) throw new Error(`expected ${code} for the scenario's key, got ${JSON.stringify(d)}`);
      const problem = extra?.(d);
      if (problem) throw new Error(problem);
    };

    // Keys made by this round's createKey run feed the cold scenarios: never verified, not in KV (a new key
    // is not published), so their first verify misses the isolate cache and KV and reads D1 (verify-cold-d1,
    // which back-fills KV for 60 s); verify-cold-kv verifies them again once the isolate entries have expired.
    let harvested: string[] = [];
    let coldKeys: string[] = [];
    let coldDone = 0;
    const MAX_COLD = 4000;

    const scenarios: Scenario[] = [
      {
        name: "createKey",
        title: "keys.createKey",
        target: latchT,
        request: () => {
          harvested = [];
          return {
            method: "POST",
            path: "/v2/keys.createKey",
            headers: bearer(admin),
            body: JSON.stringify({ apiId, prefix: "sk" }),
            onResponse: (status, body) => {
              if (status === 200) harvested.push((JSON.parse(body) as { data: { key: string } }).data.key);
            },
          };
        },
      },
      {
        name: "verify-cold-d1",
        title: "verify, cold (KV miss, D1)",
        target: latchT,
        amount: () => {
          coldKeys = harvested.slice(0, MAX_COLD);
          return coldKeys.length;
        },
        request: () => {
          let i = 0;
          return { ...verifyBody(""), body: () => JSON.stringify({ key: coldKeys[i++ % coldKeys.length] }) };
        },
        after: () => {
          coldDone = Date.now();
        },
      },
      {
        name: "liveness",
        title: "GET /v2/liveness",
        target: latchT,
        request: () => ({ method: "GET", path: "/v2/liveness" }),
      },
      { name: "verify-warm", title: "verify, warm (no limits)", target: latchT, request: () => verifyBody(plain.key), probe: expectCode(plain.key, "VALID") },
      {
        name: "minimal",
        title: "physical limit (minimal Worker)",
        target: minimalT,
        request: () => ({ method: "POST", path: "/", headers: bearer(verifier), body: JSON.stringify({ key: plain.key }) }),
        probe: async () => {
          const res = await fetch(minimalT.url, { method: "POST", headers: bearer(verifier), body: JSON.stringify({ key: plain.key }) });
          const d = (await res.json()) as { data?: { valid?: boolean } };
          if (!d.data?.valid) throw new Error(`minimal Worker: ${JSON.stringify(d)}`);
        },
      },
      {
        name: "peer-verify",
        title: "peer: better-auth verifyApiKey",
        target: peerT,
        request: () => ({ method: "POST", path: "/verify", headers: json, body: JSON.stringify({ key: peer.keys.plain }) }),
        probe: () => peer.expectValid(peer.keys.plain),
      },
      {
        name: "verify-cold-kv",
        title: "verify, cold (KV hit)",
        target: latchT,
        before: async () => {
          // The isolate entries from verify-cold-d1 must have expired; the KV back-fills (60 s) must not have.
          const wait = coldDone + cacheTtlMs + 300 - Date.now();
          if (wait > 0) await sleep(wait);
          if (coldKeys.length > 0 && !(await kv.get(kvKey(await hashKey(coldKeys[0]!))))) {
            throw new Error("verify-cold-kv: the back-filled KV entry is missing (expired or never written)");
          }
          if (Date.now() - coldDone > 55_000) log("warning: verify-cold-kv starts close to the 60 s back-fill expiry");
        },
        amount: () => coldKeys.length,
        request: () => {
          let i = 0;
          return { ...verifyBody(""), body: () => JSON.stringify({ key: coldKeys[i++ % coldKeys.length] }) };
        },
      },
      {
        name: "verify-ratelimit",
        title: "verify, autoApply rate limit (Durable Object)",
        target: latchT,
        request: () => verifyBody(limited.key),
        probe: expectCode(limited.key, "VALID", (d) => (d.ratelimits?.length === 1 ? undefined : `no ratelimits in ${JSON.stringify(d)}`)),
      },
      {
        name: "minimal-do",
        title: "minimal Worker + one Durable Object call",
        target: minimalT,
        request: () => ({ method: "POST", path: "/limited", headers: bearer(verifier), body: JSON.stringify({ key: plain.key }) }),
        probe: async () => {
          const res = await fetch(`${minimalT.url}/limited`, { method: "POST", headers: bearer(verifier), body: JSON.stringify({ key: plain.key }) });
          const d = (await res.json()) as { data?: { ratelimits?: unknown[] } };
          if (!d.data?.ratelimits) throw new Error(`minimal Worker /limited: ${JSON.stringify(d)}`);
        },
      },
      {
        name: "peer-verify-ratelimit",
        title: "peer: verifyApiKey with a rate limit",
        target: peerT,
        request: () => ({ method: "POST", path: "/verify", headers: json, body: JSON.stringify({ key: peer.keys.limited }) }),
        probe: () => peer.expectValid(peer.keys.limited),
      },
      {
        name: "verify-credits",
        title: "verify, credits (Durable Object)",
        target: latchT,
        request: () => verifyBody(credited.key),
        probe: expectCode(credited.key, "VALID", (d) => (typeof d.credits === "number" ? undefined : `no credits in ${JSON.stringify(d)}`)),
      },
      {
        name: "verify-unknown",
        title: "verify, unknown key (negative cache)",
        target: latchT,
        request: () => verifyBody(unknownKey),
        probe: expectCode(unknownKey, "NOT_FOUND"),
      },
    ];
    const byName = new Map(scenarios.map((s) => [s.name, s]));
    const selected = SCENARIO_ORDER.filter((n) => !args.only || args.only.includes(n)).map((n) => byName.get(n)!);
    if (args.only?.includes("verify-cold-d1") || args.only?.includes("verify-cold-kv")) {
      if (!args.only.includes("createKey")) selected.unshift(byName.get("createKey")!);
    }

    const results = new Map<string, LoadResult[]>(selected.map((s) => [s.name, []]));
    const loadStart = loadAverage();
    const startedAt = new Date().toISOString();
    for (let round = 0; round <= args.rounds; round++) {
      const warm = round === 0;
      log(warm ? `warm-up round (${args.warmup} s each)` : `round ${round}/${args.rounds} (${args.duration} s each)`);
      for (const s of selected) {
        await s.probe?.();
        await s.before?.();
        const amount = s.amount?.();
        if (amount === 0) {
          log(`  ${s.name}: skipped (no inputs)`);
          continue;
        }
        const r = await runLoad({
          url: s.target.url,
          pid: s.target.pid,
          request: s.request(),
          connections: args.connections,
          duration: warm ? args.warmup : args.duration,
          ...(amount !== undefined ? { amount } : {}),
        });
        s.after?.(r);
        if (r.errors > 0 || r.non2xx > 0) throw new Error(`${s.name}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
        log(`  ${s.name.padEnd(22)} ${fmt(r.rps, 0).padStart(6)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  cpu ${fmt(r.cpuUsPerReq, 0)} µs/req`);
        if (!warm) results.get(s.name)!.push(r);
      }
    }
    // The huge limits never refused, and the credits were charged.
    if (byName.has("verify-ratelimit") && selected.includes(byName.get("verify-ratelimit")!)) await expectCode(limited.key, "VALID")();
    if (selected.includes(byName.get("verify-credits")!)) await expectCode(credited.key, "VALID")();

    let profiles: ProfileSummary[] | undefined;
    if (args.profile) {
      log("profiling Latch (inspector) — see bench/lib/profile.ts");
      profiles = [];
      for (const s of [byName.get("verify-warm")!, byName.get("verify-ratelimit")!]) {
        profiles.push(await profileScenario(latch, s.name, { url: L, request: s.request(), connections: args.connections, duration: args.duration }, distDir));
      }
    }

    const summary = Object.fromEntries(
      selected.map((s) => {
        const rs = results.get(s.name)!;
        return [
          s.name,
          {
            title: s.title,
            target: s.target.label,
            median: {
              rps: median(rs.map((r) => r.rps)),
              p50: median(rs.map((r) => r.p50)),
              p99: median(rs.map((r) => r.p99)),
              cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
            },
            rounds: rs,
          },
        ];
      }),
    );
    const m = (n: string) => (summary[n] as { median: { rps: number; cpuUsPerReq: number } } | undefined)?.median;
    const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? a / b : NaN);
    const ratios = {
      minimalCpuOverWarmCpu: ratio(m("minimal")?.cpuUsPerReq, m("verify-warm")?.cpuUsPerReq),
      minimalCpuOverRatelimitCpu: ratio(m("minimal")?.cpuUsPerReq, m("verify-ratelimit")?.cpuUsPerReq),
      /** Supplementary: the floor of any Durable Object rate limit (one RPC, in-memory count) over Latch's. */
      minimalDoCpuOverRatelimitCpu: ratio(m("minimal-do")?.cpuUsPerReq, m("verify-ratelimit")?.cpuUsPerReq),
      /** Supplementary: what an empty route costs in Latch (routing, middleware, response) over the minimal verify. */
      livenessCpuOverMinimalCpu: ratio(m("liveness")?.cpuUsPerReq, m("minimal")?.cpuUsPerReq),
      warmRpsOverPeerRps: ratio(m("verify-warm")?.rps, m("peer-verify")?.rps),
      warmCpuOverPeerCpu: ratio(m("verify-warm")?.cpuUsPerReq, m("peer-verify")?.cpuUsPerReq),
      ratelimitRpsOverPeerRatelimitRps: ratio(m("verify-ratelimit")?.rps, m("peer-verify-ratelimit")?.rps),
      ratelimitCpuOverPeerRatelimitCpu: ratio(m("verify-ratelimit")?.cpuUsPerReq, m("peer-verify-ratelimit")?.cpuUsPerReq),
    };
    // `met` is null when a run did not measure both sides (e.g. --only).
    const check = (value: number, ok: (v: number) => boolean) => ({ value, met: Number.isFinite(value) ? ok(value) : null });
    const targets = [
      { target: "warm verify: minimal CPU/req ÷ Latch's ≥ 0.70", ...check(ratios.minimalCpuOverWarmCpu, (v) => v >= 0.7) },
      { target: "rate-limited verify: minimal CPU/req ÷ Latch's ≥ 0.40", ...check(ratios.minimalCpuOverRatelimitCpu, (v) => v >= 0.4) },
      { target: "warm verify: ≥ 3× the peer's requests/s", ...check(ratios.warmRpsOverPeerRps, (v) => v >= 3) },
      { target: "warm verify: less CPU/req than the peer", ...check(ratios.warmCpuOverPeerCpu, (v) => v < 1) },
    ];
    const output = {
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: {
        cores: cpus().length,
        cpu: cpus()[0]?.model,
        node: process.version,
        clockTicksPerSecond: clockTicksPerSecond(),
        loadAverage1mBefore: loadStart,
        loadAverage1mAfter: loadAverage(),
      },
      git: { ...gitInfo(), source: source.ref ? { ref: source.ref, commit: source.commit } : "working tree" },
      settings: { rounds: args.rounds, durationSeconds: args.duration, warmupSeconds: args.warmup, connections: args.connections, cacheTtlMs },
      versions: versions(),
      scenarios: summary,
      ratios,
      targets,
      ...(profiles ? { profiles } : {}),
    };
    writeFileSync(args.out, JSON.stringify(output, null, 2) + "\n");
    console.log(table(summary));
    console.log();
    for (const t of targets) console.log(`${t.met === null ? "n/a   " : t.met ? "met   " : "MISSED"}  ${t.target}: ${fmt(t.value, 2)}`);
    log(`wrote ${path.relative(ROOT, args.out)}`);
  } finally {
    await cleanup();
  }
}

function table(summary: Record<string, { title: string; median: { rps: number; p50: number; p99: number; cpuUsPerReq: number } }>): string {
  const rows = Object.entries(summary).map(
    ([name, s]) => `| ${s.title} (\`${name}\`) | ${fmt(s.median.rps, 0)} | ${fmt(s.median.p50, 2)} | ${fmt(s.median.p99, 2)} | ${fmt(s.median.cpuUsPerReq, 0)} |`,
  );
  return ["| scenario | requests/s | p50 ms | p99 ms | CPU µs/request |", "|---|---:|---:|---:|---:|", ...rows].join("\n");
}

async function minimalSeed(url: string, rootKey: string, key: string): Promise<void> {
  const res = await fetch(`${url}/seed`, { method: "POST", body: JSON.stringify({ rootKey, key }) });
  if (!res.ok) throw new Error(`seeding the minimal Worker failed: ${res.status}`);
}

type Peer = { url: string; pid: number; keys: { plain: string; limited: string }; kill: () => void; expectValid: (key: string) => Promise<void> };

async function startPeer(file: string): Promise<Peer> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "peers", "better-auth", "server.ts"), file], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the peer exited (${code}) before listening`)));
  });
  const info = JSON.parse(line) as { port: number; plain: string; limited: string };
  const url = `http://127.0.0.1:${info.port}`;
  return {
    url,
    pid: child.pid!,
    keys: { plain: info.plain, limited: info.limited },
    kill: () => child.kill(),
    expectValid: async (key) => {
      const res = await fetch(`${url}/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key }) });
      const d = (await res.json()) as { valid?: boolean };
      if (!d.valid) throw new Error(`peer: ${JSON.stringify(d)}`);
    },
  };
}

function gitInfo(): { commit?: string; dirty?: boolean } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "wrangler.toml"], { cwd: ROOT, encoding: "utf8" }).trim() !== "";
    return { commit, dirty };
  } catch {
    return {};
  }
}

function versions(): Record<string, string> {
  const v = (name: string) => (JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  return Object.fromEntries(["wrangler", "miniflare", "workerd", "autocannon", "better-auth", "@better-auth/api-key", "libsql"].map((n) => [n, v(n)]));
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "—";
}

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
