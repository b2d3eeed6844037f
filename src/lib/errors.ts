/**
 * The error catalogue: one code per failure the API reports, each with its HTTP status, title and Unkey's
 * documentation URL (`https://unkey.com/docs/errors/<system>/<category>/<specific>`), so SDKs built for Unkey
 * parse Latch's errors into the same typed classes.
 */
export const ERRORS = {
  AUTH_MISSING: { status: 400, title: "Bad Request", type: "unkey/authentication/missing" },
  AUTH_MALFORMED: { status: 400, title: "Bad Request", type: "unkey/authentication/malformed" },
  AUTH_KEY_NOT_FOUND: { status: 401, title: "Unauthorized", type: "unkey/authentication/key_not_found" },
  INSUFFICIENT_PERMISSIONS: {
    status: 403,
    title: "Insufficient Permissions",
    type: "unkey/authorization/insufficient_permissions",
  },
  WORKSPACE_DISABLED: { status: 403, title: "Workspace is disabled", type: "unkey/authorization/workspace_disabled" },
  INVALID_INPUT: { status: 400, title: "Bad Request", type: "unkey/application/invalid_input" },
  BODY_TOO_LARGE: { status: 400, title: "Bad Request", type: "user/bad_request/request_body_too_large" },
  PERMISSIONS_QUERY_SYNTAX_ERROR: { status: 400, title: "Bad Request", type: "user/bad_request/permissions_query_syntax_error" },
  BODY_UNREADABLE: { status: 400, title: "Bad Request", type: "user/bad_request/request_body_unreadable" },
  KEY_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/key_not_found" },
  API_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/api_not_found" },
  IDENTITY_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/identity_not_found" },
  PERMISSION_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/permission_not_found" },
  ROLE_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/role_not_found" },
  RATELIMIT_NAMESPACE_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/ratelimit_namespace_not_found" },
  RATELIMIT_OVERRIDE_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/data/ratelimit_override_not_found" },
  ROUTE_NOT_FOUND: { status: 404, title: "Not Found", type: "unkey/application/route_not_found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method Not Allowed", type: "unkey/application/method_not_allowed" },
  CONFLICT: { status: 409, title: "Conflicting Resource", type: "unkey/application/conflict" },
  PERMISSION_ALREADY_EXISTS: { status: 409, title: "Conflicting Resource", type: "unkey/data/permission_already_exists" },
  ROLE_ALREADY_EXISTS: { status: 409, title: "Conflicting Resource", type: "unkey/data/role_already_exists" },
  IDENTITY_ALREADY_EXISTS: { status: 409, title: "Conflicting Resource", type: "unkey/data/identity_already_exists" },
  PRECONDITION_FAILED: { status: 412, title: "Precondition Failed", type: "unkey/application/precondition_failed" },
  PROTECTED_RESOURCE: { status: 412, title: "Resource is protected", type: "unkey/application/protected_resource" },
  INTERNAL: { status: 500, title: "Internal Server Error", type: "unkey/application/unexpected_error" },
  SERVICE_UNAVAILABLE: { status: 503, title: "Service Unavailable", type: "unkey/application/service_unavailable" },
} as const satisfies Record<string, { status: number; title: string; type: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_DOCS_BASE = "https://unkey.com/docs/errors/";

/** One field-level problem of a 400: `location` is a JSONPath-like `body.credits.refill.amount`. */
export type FieldError = { location: string; message: string; fix?: string };

export type ErrorBody = {
  title: string;
  detail: string;
  status: number;
  type: string;
  errors?: FieldError[];
};

/** Thrown by services and middleware; `app.onError` turns it into the wire format. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;
  constructor(code: ErrorCode, detail: string, errors?: FieldError[]) {
    super(detail);
    this.name = "ApiError";
    this.code = code;
    this.errors = errors;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** Builds the `error` object of the envelope. 400s always carry `errors[]`, as Unkey's SDK requires. */
export function errorBody(code: ErrorCode, detail: string, errors?: FieldError[]): ErrorBody {
  const def = ERRORS[code];
  const body: ErrorBody = { title: def.title, detail, status: def.status, type: ERROR_DOCS_BASE + def.type };
  if (def.status === 400) body.errors = errors && errors.length > 0 ? errors : [{ location: "body", message: detail }];
  else if (errors && errors.length > 0) body.errors = errors;
  return body;
}

/** Turns a path like ["credits", "refill", 0, "amount"] into `body.credits.refill[0].amount`. */
export function bodyLocation(path: ReadonlyArray<PropertyKey>): string {
  let out = "body";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : `.${String(part)}`;
  return out;
}

/** D1 reports a unique-index violation as an error whose message (or its cause's) names `table.column`. */
export function isUniqueViolation(err: unknown, table: string): boolean {
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error && messages.length < 5; e = e.cause) messages.push(e.message);
  return messages.some((m) => m.includes("UNIQUE constraint failed") && m.includes(`${table}.`));
}
