import { STATUS_CODES } from "node:http";
import { describe, expect, it } from "vitest";
import { ApiError, ERROR_DOCS_BASE, ERRORS, bodyLocation, errorBody, type ErrorCode } from "./errors";

const CODES = Object.keys(ERRORS) as ErrorCode[];

describe("ERRORS", () => {
  it.each(CODES)("%s has a valid HTTP error status, a title and an Unkey-style type", (code) => {
    const def = ERRORS[code];
    expect(Number.isInteger(def.status)).toBe(true);
    expect(def.status).toBeGreaterThanOrEqual(400);
    expect(def.status).toBeLessThanOrEqual(599);
    expect(STATUS_CODES[def.status]).toBeDefined();
    expect(def.title.length).toBeGreaterThan(0);
    expect(def.type).toMatch(/^[a-z]+\/[a-z_]+\/[a-z_]+$/);
  });

  it("gives every code its own type", () => {
    const types = CODES.map((c) => ERRORS[c].type);
    expect(new Set(types).size).toBe(types.length);
  });

  it("maps the documented codes to Unkey's statuses and types", () => {
    expect(ERRORS.AUTH_MISSING).toMatchObject({ status: 400, type: "unkey/authentication/missing" });
    expect(ERRORS.AUTH_MALFORMED).toMatchObject({ status: 400, type: "unkey/authentication/malformed" });
    expect(ERRORS.AUTH_KEY_NOT_FOUND).toMatchObject({ status: 401, type: "unkey/authentication/key_not_found" });
    expect(ERRORS.INSUFFICIENT_PERMISSIONS).toMatchObject({ status: 403, type: "unkey/authorization/insufficient_permissions" });
    expect(ERRORS.INVALID_INPUT).toMatchObject({ status: 400, type: "unkey/application/invalid_input" });
    expect(ERRORS.API_NOT_FOUND).toMatchObject({ status: 404, type: "unkey/data/api_not_found" });
    expect(ERRORS.KEY_NOT_FOUND).toMatchObject({ status: 404, type: "unkey/data/key_not_found" });
    expect(ERRORS.PRECONDITION_FAILED).toMatchObject({ status: 412, type: "unkey/application/precondition_failed" });
  });
});

describe("errorBody", () => {
  it.each(CODES)("%s: type is the Unkey docs URL, status and title come from the catalogue", (code) => {
    const body = errorBody(code, "something went wrong");
    expect(ERROR_DOCS_BASE).toBe("https://unkey.com/docs/errors/");
    expect(body.type).toBe(`https://unkey.com/docs/errors/${ERRORS[code].type}`);
    expect(body.status).toBe(ERRORS[code].status);
    expect(body.title).toBe(ERRORS[code].title);
    expect(body.detail).toBe("something went wrong");
  });

  it.each(CODES.filter((c) => ERRORS[c].status === 400))("%s (400) always carries errors[], defaulting to a body entry", (code) => {
    for (const errors of [undefined, []]) {
      const body = errorBody(code, "bad input", errors);
      expect(body.errors).toEqual([{ location: "body", message: "bad input" }]);
    }
  });

  it("keeps the given field errors of a 400", () => {
    const errors = [
      { location: "body.credits.refill.amount", message: "must be at least 1" },
      { location: "body.name", message: "too short", fix: "use 3 characters or more" },
    ];
    expect(errorBody("INVALID_INPUT", "bad", errors).errors).toEqual(errors);
  });

  it.each(CODES.filter((c) => ERRORS[c].status !== 400))("%s (non-400) without errors has no errors key", (code) => {
    expect("errors" in errorBody(code, "nope")).toBe(false);
    expect("errors" in errorBody(code, "nope", [])).toBe(false);
  });

  it("keeps field errors on a non-400 when given", () => {
    const errors = [{ location: "body.keyId", message: "unknown" }];
    expect(errorBody("KEY_NOT_FOUND", "nope", errors).errors).toEqual(errors);
  });

  it("round-trips through JSON without undefined holes", () => {
    const body = errorBody("API_NOT_FOUND", "The API does not exist.");
    expect(JSON.parse(JSON.stringify(body))).toEqual({
      title: "Not Found",
      detail: "The API does not exist.",
      status: 404,
      type: "https://unkey.com/docs/errors/unkey/data/api_not_found",
    });
  });
});

describe("ApiError", () => {
  it("carries code, detail, errors and the catalogue status", () => {
    const errors = [{ location: "body.name", message: "too short" }];
    const err = new ApiError("INVALID_INPUT", "bad", errors);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("ApiError");
    expect(err.message).toBe("bad");
    expect(err.code).toBe("INVALID_INPUT");
    expect(err.errors).toEqual(errors);
    expect(err.status).toBe(400);
    expect(new ApiError("INSUFFICIENT_PERMISSIONS", "no").status).toBe(403);
    expect(new ApiError("INTERNAL", "x").errors).toBeUndefined();
  });
});

describe("bodyLocation", () => {
  it.each([
    [[], "body"],
    [["name"], "body.name"],
    [["a", 0, "b"], "body.a[0].b"],
    [["credits", "refill", "amount"], "body.credits.refill.amount"],
    [["ratelimits", 2, "name"], "body.ratelimits[2].name"],
    [["tags", 0], "body.tags[0]"],
  ] as const)("%j → %s", (path, location) => {
    expect(bodyLocation(path)).toBe(location);
  });
});
