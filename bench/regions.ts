/**
 * `npm run bench:regions`: the revocation bound, measured. Several simulated regions run Latch's bundle in
 * workerd (through Miniflare), each its own Worker and so its own isolate and isolate cache. They share one
 * D1 database and the Durable Objects (as every region does in production), and reach KV through
 * bench/regions/kv-propagation.js, which makes a write visible in the writing region at once and in the
 * others only after the propagation delay.
 *
 * Keys are revoked (disabled or deleted) through region A while every region verifies them continuously;
 * for each region the report gives the time from the revoke's response to the first refusal, against the
 * README's bound (VERIFY_CACHE_TTL_MS + propagation). The back-fill race is staged too: region B's first
 * verify of a fresh key reads D1 just before the revoke, and its KV back-fill is held back so it lands just
 * after the revoke's KV write.
 *
 * Options: --regions N (4) --propagation MS (2000) --ttl MS (VERIFY_CACHE_TTL_MS from wrangler.toml)
 *          --keys N (6 per batch) --races N (3) --interval MS (25, each verify loop's pause)
 *          --lag MS (400, how late B's racing back-fill lands) --ref REV --out FILE (bench/regions-results.json)
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Miniflare, WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { hashKey } from "../src/lib/hash";
import { applyMigrations, bootstrap, buildBundle, call, kvKey, ROOT, serve, sleep, sourceTree } from "./lib/workerd";

type Args = { regions: number; propagationMs: number; ttlMs?: number; keys: number; races: number; intervalMs: number; lagMs: number; ref?: string; out: string };

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number, min = 0) => {
    const v = get(name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} needs an integer ≥ ${min}`);
    return n;
  };
  const ttl = get("ttl");
  const ref = get("ref");
  return {
    regions: num("regions", 4, 2),
    propagationMs: num("propagation", 2000),
    ...(ttl !== undefined ? { ttlMs: num("ttl", 0) } : {}),
    keys: num("keys", 6, 1),
    races: num("races", 3, 0),
    intervalMs: num("interval", 25, 1),
    lagMs: num("lag", 400, 1),
    ...(ref ? { ref } : {}),
    out: path.resolve(get("out") ?? path.join(ROOT, "bench", "regions-results.json")),
  };
}

type Observation = {
  region: string;
  /**
   * ms from the revoke's response to the sending of the first verify this region refused (null: none
   * before the deadline). The region switched between the last VALID verify's sending and this moment.
   */
  refusedAfterMs: number | null;
  code?: string;
  /** ms from the revoke's response to the sending of the last verify answered VALID (null: none after it). */
  lastValidAfterMs: number | null;
  /** Verifies sent after the revoke's response and answered VALID (a region serving its cached record). */
  validAfterRevoke: number;
  /** VALID answers after a refusal: a resurrected key (must be 0). */
  resurrections: number;
};

type Trial = { kind: "disable" | "delete" | "ratelimited-disable" | "race-delete"; keyId: string; observations: Observation[]; race?: RaceEvidence };

type RaceEvidence = { backfillAfterFirstTombstoneMs: number | null; writes: Array<{ region: string; atMs: number; kind: string }> };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const benchDir = path.join(ROOT, "bench");
  const stateDir = path.join(benchDir, ".state", "regions");
  const distDir = path.join(benchDir, "dist", "regions");
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(distDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });

  const source = sourceTree(args.ref, path.join(distDir, "source"));
  log(`building the bundle from ${source.ref ? `${source.ref} (${source.commit!.slice(0, 7)})` : "the working tree"}`);
  const bundle = buildBundle(path.join(distDir, "latch"), source.config);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(source.config);
  const vars = (workerOptions.bindings ?? {}) as Record<string, string>;
  const ttlMs = args.ttlMs ?? Number(vars.VERIFY_CACHE_TTL_MS ?? 5000);
  const republishMs = Number(vars.EDGE_REPUBLISH_DELAY_MS ?? 1500);
  const boundMs = ttlMs + args.propagationMs;
  const raceBoundMs = boundMs + republishMs;

  const names = Array.from({ length: args.regions }, (_, i) => String.fromCharCode(97 + i));
  const workerName = (r: string) => `region-${r}`;
  const { kvNamespaces: _kv, durableObjects, ...rest } = workerOptions;
  const regionWorkers: WorkerOptions[] = names.map((r, i) => ({
    ...rest,
    name: workerName(r),
    modules: true,
    scriptPath: bundle,
    bindings: { ...vars, VERIFY_CACHE_TTL_MS: String(ttlMs) },
    // Durable Objects are global: every region reaches region A's classes.
    durableObjects: Object.fromEntries(
      Object.entries(durableObjects ?? {}).map(([binding, d]) => [binding, i === 0 ? d : { ...(d as object), scriptName: workerName(names[0]!) }]),
    ) as WorkerOptions["durableObjects"],
    kvNamespaces: i === 0 ? { EDGE_INNER: "edge-shared" } : {},
    wrappedBindings: {
      EDGE: { scriptName: "kv-propagation", bindings: { REGION: r, PROPAGATION_MS: args.propagationMs } },
    },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  }));
  log(`starting ${args.regions} regions in workerd (one isolate each; shared D1, Durable Objects and KV with ${args.propagationMs} ms propagation)`);
  const served = await serve(
    {
      defaultPersistRoot: stateDir,
      workers: [
        ...regionWorkers,
        { name: "kv-propagation", modules: true, scriptPath: path.join(benchDir, "regions", "kv-propagation.js"), kvNamespaces: { INNER: "edge-shared" } },
      ],
    },
    names.map(workerName),
  );
  const url = (r: string) => served.urls[workerName(r)]!;
  const A = names[0]!;
  const B = names[1]!;

  try {
    const db = await served.mf.getD1Database("DB", workerName(A));
    const inner = await served.mf.getKVNamespace("EDGE_INNER", workerName(A));
    await applyMigrations(db, source.migrations);
    const { admin, verifier } = await bootstrap(db);
    const { apiId } = await call<{ apiId: string }>(url(A), "apis.createApi", admin, { name: "regions" });
    const createKey = (body: object = {}) => call<{ keyId: string; key: string }>(url(A), "keys.createKey", admin, { apiId, prefix: "sk", ...body });
    const verifyAt = (r: string, key: string) => call<{ valid: boolean; code: string }>(url(r), "keys.verifyKey", verifier, { key });
    const revoke = async (kind: Trial["kind"], keyId: string) => {
      if (kind.endsWith("delete")) await call(url(A), "keys.deleteKey", admin, { keyId });
      else await call(url(A), "keys.updateKey", admin, { keyId, enabled: false });
      return Date.now();
    };
    // The root key is verified through every region before anything is timed (its first lookup reads D1).
    await Promise.all(names.map((r) => verifyAt(r, "sk_warmup_unknown_key_000")));

    /**
     * Verifies `key` in every region every `intervalMs` until each has refused it, or until `deadline`.
     * `revokedAt()` is the time of the revoke's response (undefined before it).
     */
    const watch = (key: string, revokedAt: () => number | undefined, deadline: () => number, regions = names) =>
      Promise.all(
        regions.map(async (region): Promise<Observation> => {
          const o: Observation = { region, refusedAfterMs: null, lastValidAfterMs: null, validAfterRevoke: 0, resurrections: 0 };
          for (;;) {
            const sent = Date.now();
            const d = await verifyAt(region, key);
            const now = Date.now();
            const T = revokedAt();
            // Only verifies sent after the revoke's response count: one in flight across it may see either.
            if (T !== undefined && sent >= T) {
              if (d.valid) {
                if (o.refusedAfterMs !== null) o.resurrections++;
                o.validAfterRevoke++;
                o.lastValidAfterMs = sent - T;
              } else if (o.refusedAfterMs === null) {
                o.refusedAfterMs = sent - T;
                o.code = d.code;
              }
              // Keep watching a while after the refusal, to catch a resurrection.
              if (now > deadline()) return o;
            } else if (T === undefined && !d.valid) {
              throw new Error(`region ${region}: ${key.slice(0, 6)}… refused before it was revoked (${d.code})`);
            }
            await sleep(args.intervalMs);
          }
        }),
      );

    const trials: Trial[] = [];

    // 1. Plain revocations: keys verified everywhere for a while, then revoked at a random phase of the
    //    regions' cache refreshes. Half are disabled (updateKey), half deleted (deleteKey); one more key has
    //    a rate limit, so every verify of it reaches its Durable Object.
    log(`revocations: ${args.keys} keys + 1 with a rate limit; bound ${boundMs} ms (TTL ${ttlMs} + propagation ${args.propagationMs})`);
    const plain = await Promise.all(
      Array.from({ length: args.keys }, async (_, i) => ({ kind: (i % 2 ? "delete" : "disable") as Trial["kind"], ...(await createKey()) })),
    );
    const limited = { kind: "ratelimited-disable" as Trial["kind"], ...(await createKey({ ratelimits: [{ name: "requests", limit: 1_000_000_000, duration: 60_000, autoApply: true }] })) };
    await Promise.all(
      [...plain, limited].map(async (k) => {
        let T: number | undefined;
        const watching = watch(k.key, () => T, () => (T ?? Infinity) + raceBoundMs + 1500);
        await sleep(1000 + Math.random() * ttlMs);
        T = await revoke(k.kind, k.keyId);
        trials.push({ kind: k.kind, keyId: k.keyId, observations: await watching });
      }),
    );

    // 2. The back-fill race: region B's first verify of a fresh key reads D1 (KV has nothing yet) and answers
    //    VALID; the revoke follows at once through A; B's back-fill of the old record is held back by the
    //    KV wrapper so that it lands after the revoke's first KV write. The revoke's second write
    //    (EDGE_REPUBLISH_DELAY_MS later) must overwrite it. Every other region verifies the key continuously
    //    from its creation, so their caches hold the valid record and refresh from KV at their own phases
    //    (their own back-fills are not visible to B before the propagation delay, so B still misses KV).
    if (args.races > 0) {
      log(`back-fill race: ${args.races} keys; region ${B}'s back-fill lands ${args.lagMs} ms late`);
      await inner.put(`ctl:lag:${B}`, String(args.lagMs));
      const others = names.filter((r) => r !== B);
      await Promise.all(
        Array.from({ length: args.races }, async (_, i) => {
          await sleep(i * 700);
          const k = await createKey();
          let T: number | undefined;
          const deadline = () => (T ?? Infinity) + raceBoundMs + 1500;
          const watchingOthers = watch(k.key, () => T, deadline, others);
          // B verifies as late as it can while the others' back-fills are still invisible to it (they land a
          // few ms after the others' first verifies and become visible to B after the propagation delay).
          // That puts the others' next cache refresh in the window where B's late back-fill is the newest
          // version they can see: the worst case for the race.
          await sleep(Math.max(0, args.propagationMs - 600 + Math.random() * 500));
          const first = await verifyAt(B, k.key);
          if (!first.valid) throw new Error(`race: the fresh key did not verify in region ${B}`);
          T = await revoke("race-delete", k.keyId);
          const [watchingB] = await Promise.all([watch(k.key, () => T, deadline, [B]), sleep(0)]);
          const observations = [...(await watchingOthers), ...watchingB].sort((x, y) => x.region.localeCompare(y.region));
          trials.push({ kind: "race-delete", keyId: k.keyId, observations, race: await raceEvidence(inner, k.key, T) });
        }),
      );
      await inner.delete(`ctl:lag:${B}`);
    }

    const report = summarize(trials, names, boundMs, raceBoundMs);
    const output = {
      command: `npm run bench:regions -- ${process.argv.slice(2).join(" ")}`.trim(),
      finishedAt: new Date().toISOString(),
      source: source.ref ? { ref: source.ref, commit: source.commit } : "working tree",
      settings: {
        regions: args.regions,
        propagationMs: args.propagationMs,
        verifyCacheTtlMs: ttlMs,
        republishDelayMs: republishMs,
        verifyIntervalMs: args.intervalMs,
        raceBackfillLagMs: args.lagMs,
      },
      boundMs,
      raceBoundMs,
      ...report,
      trials,
    };
    writeFileSync(args.out, JSON.stringify(output, null, 2) + "\n");
    printReport(output);
    log(`wrote ${path.relative(ROOT, args.out)}`);
    if (!report.allWithinBound) process.exitCode = 1;
  } finally {
    await served.mf.dispose();
  }
}

/** The versions the shared KV holds for the key, relative to the revoke: shows the back-fill landed late. */
async function raceEvidence(inner: Awaited<ReturnType<Miniflare["getKVNamespace"]>>, key: string, revokedAt: number): Promise<RaceEvidence> {
  const prefix = `v:${kvKey(await hashKey(key))}:`;
  const listed = await inner.list({ prefix });
  const writes = await Promise.all(
    listed.keys.map(async (k) => {
      const value = (await inner.get(k.name, "json")) as { tombstone?: boolean; record?: { enabled: boolean } } | null;
      const meta = k.metadata as { at: number; region: string };
      return { region: meta.region, atMs: meta.at - revokedAt, kind: value?.tombstone ? "tombstone" : "record" };
    }),
  );
  writes.sort((a, b) => a.atMs - b.atMs);
  const firstTombstone = writes.find((w) => w.kind === "tombstone");
  const backfill = writes.find((w) => w.kind === "record" && firstTombstone && w.atMs > firstTombstone.atMs);
  return { backfillAfterFirstTombstoneMs: firstTombstone && backfill ? backfill.atMs - firstTombstone.atMs : null, writes };
}

function summarize(trials: Trial[], names: string[], boundMs: number, raceBoundMs: number) {
  const perRegion = names.map((region) => {
    const pick = (pred: (t: Trial) => boolean) => trials.filter(pred).map((t) => t.observations.find((o) => o.region === region)!);
    const stats = (os: Observation[]): Stat => {
      const done = os.map((o) => o.refusedAfterMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
      const lastValid = os.map((o) => o.lastValidAfterMs).filter((x): x is number => x !== null);
      return {
        n: os.length,
        neverRefused: os.length - done.length,
        min: done[0] ?? null,
        median: done.length ? done[Math.floor((done.length - 1) / 2)]! : null,
        max: done.at(-1) ?? null,
        lastValidMax: lastValid.length ? Math.max(...lastValid) : null,
      };
    };
    return {
      region,
      plain: stats(pick((t) => t.kind === "disable" || t.kind === "delete")),
      rateLimited: stats(pick((t) => t.kind === "ratelimited-disable")),
      race: stats(pick((t) => t.kind === "race-delete")),
    };
  });
  const all = trials.flatMap((t) => t.observations.map((o) => ({ t, o })));
  // The bound holds for an observation if the region refused, and accepted no verify sent after the bound.
  const withinOf = (limit: number) => (x: { t: Trial; o: Observation }) =>
    x.o.refusedAfterMs !== null && (x.o.lastValidAfterMs === null || x.o.lastValidAfterMs <= limit);
  // The stated bound is TTL + propagation; a verify racing the revocation (the back-fill race) is stated
  // separately as that plus EDGE_REPUBLISH_DELAY_MS, after which the mutation's second write lands.
  const within = (x: { t: Trial; o: Observation }) => withinOf(x.t.kind === "race-delete" ? raceBoundMs : boundMs)(x);
  const resurrections = all.reduce((n, x) => n + x.o.resurrections, 0);
  const raceReproduced = trials.filter((t) => t.race && t.race.backfillAfterFirstTombstoneMs !== null).length;
  return {
    perRegion,
    allWithinBound: all.every(within) && resurrections === 0,
    outsideBound: all
      .filter((x) => !within(x))
      .map((x) => ({ kind: x.t.kind, keyId: x.t.keyId, region: x.o.region, lastValidAfterMs: x.o.lastValidAfterMs, refusedAfterMs: x.o.refusedAfterMs })),
    allWithinRaceBound: all.every(withinOf(raceBoundMs)),
    resurrections,
    racesReproduced: raceReproduced,
    /** Regions other than A that still answered VALID after the revoke: evidence that their caches are their own. */
    staleServingObserved: all.filter((x) => x.o.region !== names[0] && x.o.validAfterRevoke > 0).length,
  };
}

function printReport(o: {
  settings: { regions: number; propagationMs: number; verifyCacheTtlMs: number; republishDelayMs: number; verifyIntervalMs: number };
  boundMs: number;
  raceBoundMs: number;
  perRegion: Array<{ region: string; plain: Stat; rateLimited: Stat; race: Stat }>;
  allWithinBound: boolean;
  allWithinRaceBound: boolean;
  resurrections: number;
  racesReproduced: number;
  staleServingObserved: number;
  outsideBound: unknown[];
}): void {
  const f = (s: Stat) => (s.n === 0 ? "—" : `${s.min ?? "—"} / ${s.median ?? "—"} / ${s.max ?? "—"}${s.neverRefused ? ` (${s.neverRefused} never)` : ""}`);
  console.log(
    `bound = VERIFY_CACHE_TTL_MS ${o.settings.verifyCacheTtlMs} ms + propagation ${o.settings.propagationMs} ms = ${o.boundMs} ms ` +
      `(verify loops every ${o.settings.verifyIntervalMs} ms)`,
  );
  console.log("| region | revoked, no limits: min / median / max ms | with a rate limit | back-fill race |");
  console.log("|---|---:|---:|---:|");
  for (const r of o.perRegion) console.log(`| ${r.region} | ${f(r.plain)} | ${f(r.rateLimited)} | ${f(r.race)} |`);
  console.log(
    `within the bound: ${o.allWithinBound ? "yes" : "NO"}; within bound + EDGE_REPUBLISH_DELAY_MS (${o.raceBoundMs} ms): ${o.allWithinRaceBound ? "yes" : "NO"}; ` +
      `resurrections: ${o.resurrections}; races reproduced: ${o.racesReproduced}; regions seen serving a cached record after the revoke: ${o.staleServingObserved}`,
  );
  if (o.outsideBound.length) console.log("outside the bound:", JSON.stringify(o.outsideBound));
}

/** First refusals (ms after the revoke's response): min / median / max; and the latest VALID answer's sending. */
type Stat = { n: number; neverRefused: number; min: number | null; median: number | null; max: number | null; lastValidMax: number | null };

function log(msg: string): void {
  console.error(`[regions] ${msg}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
