/**
 * One load run with autocannon (its programmatic API) against a server on this machine, with the server
 * process's CPU time read from /proc before and after. Latency percentiles come from autocannon's
 * per-response event (sub-millisecond floats), not its integer histogram.
 */
import autocannon from "autocannon";
import { clockTicksPerSecond, cpuMs } from "./proc";
import { sleep } from "./workerd";

export type RequestSpec = {
  method?: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  /** A fixed body, or one built per request (each call must return the next body). */
  body?: string | (() => string);
  /** Sees every response's status and body (makes autocannon keep bodies; use only where needed). */
  onResponse?: (status: number, body: string) => void;
};

export type LoadOptions = {
  url: string;
  /** The process whose CPU time is charged to this run (workerd, or the peer's Node process). */
  pid: number;
  request: RequestSpec;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration: number;
  /** Exactly this many requests, then stop (for workloads that consume distinct inputs, e.g. cold keys). */
  amount?: number;
};

export type LoadResult = {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU time of the server process per request, in microseconds. */
  cpuUsPerReq: number;
  errors: number;
  non2xx: number;
};

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const spec = o.request;
  const latencies: number[] = [];
  const body = spec.body;
  const request: autocannon.Request = {
    method: spec.method ?? "GET",
    path: spec.path,
    headers: spec.headers ?? {},
    ...(typeof body === "string" ? { body } : {}),
    ...(typeof body === "function" ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }) } : {}),
    ...(spec.onResponse ? { onResponse: (status: number, resBody: string) => spec.onResponse!(status, resBody) } : {}),
  };
  await quiet(o.pid);
  const cpuBefore = cpuMs(o.pid);
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    pipelining: 1,
    ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.duration }),
    requests: [request],
    timeout: 30,
  });
  // autocannon 9 emits (client, status, bytes, responseTime); @types/autocannon omits the client.
  (instance as unknown as NodeJS.EventEmitter).on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const result = await instance;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The run's deferred work (waitUntil writes, alarms) is its own: counted here, not in the next scenario.
  await quiet(o.pid);
  const cpu = cpuMs(o.pid) - cpuBefore;
  const total = result.requests.total;
  latencies.sort((a, b) => a - b);
  return {
    requests: total,
    seconds,
    rps: total / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpuUsPerReq: total > 0 ? (cpu * 1000) / total : NaN,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/**
 * Waits until the server is idle: two consecutive 100 ms intervals with at most one clock tick of CPU each
 * (at most 3 s). Requests are counted over the load only; CPU from the load's start until the server is idle.
 */
async function quiet(pid: number): Promise<void> {
  const tick = 1000 / clockTicksPerSecond();
  let calm = 0;
  for (let waited = 0; waited < 3000 && calm < 2; waited += 100) {
    const before = cpuMs(pid);
    await sleep(100);
    calm = cpuMs(pid) - before <= tick ? calm + 1 : 0;
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
