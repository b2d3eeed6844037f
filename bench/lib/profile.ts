/**
 * CPU profile of a Worker under load, through workerd's inspector (V8's sampling profiler over the Chrome
 * DevTools protocol). The Miniflare instance must have been started with `inspectorPort`. The bundle is one
 * file in which esbuild marks every module with a `// <path>` comment, so samples are attributed to source
 * modules by line, without a source map. Writes `<name>.cpuprofile` (open it in Chrome DevTools) and returns
 * the self time by module and by function.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import WebSocket from "ws";
import { runLoad, type LoadOptions } from "./load";
import type { Served } from "./workerd";

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileSummary = {
  scenario: string;
  file: string;
  requests: number;
  /** Share of sampled time, by source module (the bundle's `// path` markers) or V8 category. */
  byModule: Array<{ module: string; share: number }>;
  byFunction: Array<{ fn: string; module: string; share: number }>;
};

export async function profileScenario(
  served: Served,
  scenario: string,
  load: Omit<LoadOptions, "pid">,
  outDir: string,
  workerName = "latch",
  bundle = path.join(outDir, "latch", "index.js"),
): Promise<ProfileSummary> {
  const base = await served.mf.getInspectorURL();
  const list = (await (await fetch(`http://${base.host}/json/list`)).json()) as Array<{ id?: string; webSocketDebuggerUrl?: string }>;
  const target = list.find((t) => (t.id ?? "").endsWith(`:${workerName}`) || (t.webSocketDebuggerUrl ?? "").endsWith(`:${workerName}`));
  const wsUrl = target?.webSocketDebuggerUrl ?? `ws://${base.host}/core:user:${workerName}`;
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, (v: any) => void>();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
    if (msg.id !== undefined && pending.has(msg.id)) {
      pending.get(msg.id)!(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
      pending.delete(msg.id);
    }
  });
  const send = <T = any>(method: string, params: object = {}) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });

  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  const result = await runLoad({ ...load, pid: served.pid });
  const { profile } = await send<{ profile: CpuProfile }>("Profiler.stop");
  ws.close();

  const file = path.join(outDir, `${scenario}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return { scenario, file, requests: result.requests, ...summarize(profile, bundle) };
}

function summarize(profile: CpuProfile, bundle: string): Pick<ProfileSummary, "byModule" | "byFunction"> {
  // Module boundaries in the bundle: lines like `// src/services/edge-records.ts`.
  const markers: Array<{ line: number; module: string }> = [];
  readFileSync(bundle, "utf8")
    .split("\n")
    .forEach((text, i) => {
      const m = /^\/\/ ((?:src|node_modules|\.\.)\/\S+)$/.exec(text);
      if (m) markers.push({ line: i, module: m[1]! });
    });
  const moduleAt = (frame: CallFrame): string => {
    if (!frame.url) return frame.functionName ? `(${frame.functionName})` : "(native)";
    if (!frame.url.endsWith("index.js")) return frame.url;
    let lo = 0;
    let hi = markers.length - 1;
    let found = "(bundle prelude)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (markers[mid]!.line <= frame.lineNumber) {
        found = markers[mid]!.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found.replace(/^node_modules\/([^/]+(?:\/[^/]+)?)\/.*$/, (_, pkg: string) => (pkg.startsWith("@") ? pkg : pkg.split("/")[0]!));
  };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, { module: string; t: number }>();
  for (const [id, t] of selfTime) {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === "(idle)") continue;
    total += t;
    const mod = moduleAt(frame);
    byModule.set(mod, (byModule.get(mod) ?? 0) + t);
    const fn = `${frame.functionName || "(anonymous)"}:${frame.lineNumber + 1}`;
    const entry = byFunction.get(fn) ?? { module: mod, t: 0 };
    entry.t += t;
    byFunction.set(fn, entry);
  }
  const share = (t: number) => Math.round((t / total) * 1000) / 1000;
  return {
    byModule: [...byModule].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([module, t]) => ({ module, share: share(t) })),
    byFunction: [...byFunction]
      .sort((a, b) => b[1].t - a[1].t)
      .slice(0, 25)
      .map(([fn, e]) => ({ fn, module: e.module, share: share(e.t) })),
  };
}
