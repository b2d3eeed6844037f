/**
 * The physical limit of a verify: what no implementation can avoid, and nothing else.
 * - parse the JSON body;
 * - SHA-256 the root key (Authorization: Bearer) and the key, each to base64 as Latch stores hashes;
 * - one Map lookup of the key's hash (the root key's hash is compared with one known hash);
 * - a JSON envelope back, with a request id, in Unkey's shape.
 * `POST /seed {rootKey, key}` fills the map before the benchmark. Served like Latch (bundle from
 * `wrangler deploy --dry-run`, Miniflare, direct sockets), so the two differ only in the Worker's own work.
 *
 * `POST /limited` does the same plus the least a Durable Object rate limit can cost: one RPC to the key's
 * object, which counts the request in memory (no storage write) and answers. It is not the issue's
 * reference (that is the plain verify); it shows how much of a rate-limited verify one object call takes.
 */
import { DurableObject } from "cloudflare:workers";

type Record = { keyId: string; name: string; enabled: boolean };
type Env = { COUNTER: DurableObjectNamespace<Counter> };

export class Counter extends DurableObject {
  private count = 0;
  limit(max: number): { passed: boolean; remaining: number } {
    this.count++;
    return { passed: this.count <= max, remaining: Math.max(0, max - this.count) };
  }
}

const records = new Map<string, Record>();
let rootHash = "";

async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let binary = "";
  for (const b of digest) binary += String.fromCharCode(b);
  return btoa(binary);
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/seed") {
      const { rootKey, key } = (await request.json()) as { rootKey: string; key: string };
      rootHash = await sha256Base64(rootKey);
      records.set(await sha256Base64(key), { keyId: "key_minimal", name: "bench", enabled: true });
      return json({ ok: true });
    }
    const body = (await request.json()) as { key?: unknown };
    const auth = request.headers.get("authorization") ?? "";
    const requestId = `req_${crypto.randomUUID()}`;
    if ((await sha256Base64(auth.slice(7))) !== rootHash) {
      return json({ meta: { requestId }, error: { title: "Unauthorized", status: 401 } }, 401);
    }
    const record = typeof body.key === "string" ? records.get(await sha256Base64(body.key)) : undefined;
    let data: object = record
      ? { valid: true, code: "VALID", keyId: record.keyId, name: record.name, enabled: record.enabled }
      : { valid: false, code: "NOT_FOUND" };
    if (record && url.pathname === "/limited") {
      const stub = env.COUNTER.get(env.COUNTER.idFromName(record.keyId));
      const outcome = await stub.limit(1_000_000_000);
      data = { ...data, ratelimits: [{ name: "requests", limit: 1_000_000_000, remaining: outcome.remaining, passed: outcome.passed }] };
    }
    return json({ meta: { requestId }, data });
  },
};
