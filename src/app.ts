import { OpenAPIHono, type Hook } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { HonoEnv } from "./context";
import { ApiError, bodyLocation, errorBody, type ErrorCode, type FieldError } from "./lib/errors";
import { jsonBody } from "./middleware/json-body";
import { requestId } from "./middleware/request-id";
import { services, type ServicesMiddlewareOptions } from "./middleware/services";
import { routes } from "./routes/v2";

export type App = OpenAPIHono<HonoEnv>;
export type CreateAppOptions = ServicesMiddlewareOptions;

export function createApp(opts: CreateAppOptions = {}): App {
  const app = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
  app.use("*", requestId());
  app.use("*", services(opts));
  app.use("/v2/*", jsonBody());
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, "ROUTE_NOT_FOUND", `No route ${c.req.method} ${new URL(c.req.url).pathname}.`));

  app.get("/v2/liveness", (c) => c.json({ meta: { requestId: c.get("requestId") }, data: { message: "OK" } }));
  for (const route of routes) route.register(app);

  app.openAPIRegistry.registerComponent("securitySchemes", "rootKey", {
    type: "http",
    scheme: "bearer",
    description: "A root key: `Authorization: Bearer <rootKey>`.",
  });
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "Latch",
      version: "2.0.0",
      description: "Self-hosted API keys on Cloudflare Workers, wire-compatible with Unkey's v2 API.",
    },
    servers: [{ url: new URL(c.req.url).origin }],
  }));
  return app;
}

/** zod failures from every route arrive here and leave as a 400 with one entry per problem. */
const validationHook: Hook<unknown, HonoEnv, string, unknown> = (result) => {
  if (result.success) return;
  const errors: FieldError[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) errors.push({ location: bodyLocation([...issue.path, key]), message: `unknown field "${key}"` });
    } else {
      errors.push({ location: bodyLocation(issue.path), message: issue.message });
    }
  }
  const first = errors[0];
  throw new ApiError("INVALID_INPUT", first ? `${first.location}: ${first.message}` : "The request body is invalid.", errors);
};

function handleError(err: Error, c: Context<HonoEnv>): Response {
  if (err instanceof ApiError) return errorResponse(c, err.code, err.message, err.errors);
  if (err instanceof HTTPException && err.status < 500) {
    const code: ErrorCode = err.status === 404 ? "ROUTE_NOT_FOUND" : err.status === 405 ? "METHOD_NOT_ALLOWED" : "INVALID_INPUT";
    return errorResponse(c, code, err.message || "Bad request.");
  }
  console.error(
    JSON.stringify({ level: "error", msg: "unhandled error", requestId: c.get("requestId"), error: String(err), stack: err.stack }),
  );
  return errorResponse(c, "INTERNAL", "An unexpected error occurred. Quote the request id when you report it.");
}

/**
 * Errors are `application/json` (what Unkey's SDK parses into typed errors) unless the client asks for
 * `application/problem+json` explicitly.
 */
export function errorResponse(c: Context<HonoEnv>, code: ErrorCode, detail: string, errors?: FieldError[]): Response {
  const error = errorBody(code, detail, errors);
  const accept = c.req.header("accept") ?? "";
  const type = /application\/problem\+json/i.test(accept) ? "application/problem+json" : "application/json";
  return new Response(JSON.stringify({ meta: { requestId: c.get("requestId") ?? "req_unknown" }, error }), {
    status: error.status,
    headers: { "content-type": type },
  });
}
