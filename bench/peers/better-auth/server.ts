/**
 * The peer: better-auth's API-key plugin (`better-auth` + `@better-auth/api-key`) on Node with SQLite
 * (libsql's better-sqlite3-compatible driver, WAL), behind a plain node:http server, as an application
 * would expose it. `verifyApiKey` is server-only in better-auth, so the server calls it in-process:
 *
 *   POST /verify {"key": "..."}  →  200 {"valid": true, ...}   (better-auth's own answer)
 *
 * Limits configured as in Latch's scenarios: one key without limits, one with a rate limit so high it never
 * refuses (better-auth counts it in the key's row). Usage: `node --import tsx server.ts <sqlite file>`.
 * Prints one JSON line `{"port", "plain", "limited"}` (the two keys) once it listens.
 */
import http from "node:http";
import Database from "libsql";
import { SqliteDialect } from "kysely";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { apiKey } from "@better-auth/api-key";

const file = process.argv[2] ?? ":memory:";
const db = new Database(file);
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");

const options = {
  // Kysely's SQLite dialect over the driver (better-auth would take a better-sqlite3 handle directly, but
  // libsql's handle has a \`db\` property that better-auth mistakes for a Kysely instance).
  database: { dialect: new SqliteDialect({ database: db as never }), type: "sqlite" as const },
  secret: "bench-only-secret-bench-only-secret-0123456789",
  baseURL: "http://127.0.0.1",
  telemetry: { enabled: false },
  logger: { level: "error" as const },
  plugins: [apiKey({ rateLimit: { enabled: true, timeWindow: 60_000, maxRequests: 1_000_000_000 } })],
};
// Tables first (better-auth's own migrations), so the instance starts on a complete schema.
await (await getMigrations(options)).runMigrations();
const auth = betterAuth(options);

async function setup(): Promise<{ plain: string; limited: string }> {
  const ctx = await auth.$context;
  const user = await ctx.internalAdapter.createUser({ email: `bench-${Date.now()}@example.test`, name: "bench", emailVerified: true }, { method: "admin" });
  const plain = await auth.api.createApiKey({ body: { userId: user.id, name: "plain", rateLimitEnabled: false } });
  const limited = await auth.api.createApiKey({
    body: { userId: user.id, name: "limited", rateLimitEnabled: true, rateLimitMax: 1_000_000_000, rateLimitTimeWindow: 60_000 },
  });
  return { plain: plain.key, limited: limited.key };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/verify") {
      const { key } = JSON.parse(await readBody(req)) as { key: string };
      const result = await auth.api.verifyApiKey({ body: { key } });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(result));
      return;
    }
    res.writeHead(404).end();
  } catch (err) {
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: String(err) }));
  }
});

const keys = await setup();
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ port, ...keys }) + "\n");
});
