/**
 * The shared security suite. Every route test file calls `describeSecurity(...)` once; it checks, for that
 * operation: no Authorization header, malformed headers, an unknown root key, a root key lacking the
 * permission, a root key holding it only for another API, the narrowest grant that must work, the wildcard
 * grant, and another workspace's resource, which must look exactly like a missing one.
 */
import { describe, expect, it } from "vitest";
import { Harness, post } from "./harness";

export type SecuritySpec = {
  /** `group.op`, e.g. "keys.getKey". */
  operation: string;
  /**
   * Creates what the request needs in `h`'s workspace and returns a valid body. `apiId` is the API the
   * request concerns (for API-scoped permissions).
   */
  setup(h: Harness): Promise<{ body: unknown; apiId?: string }>;
  /**
   * The narrowest permission set that must be enough for the API the request concerns; called with
   * `undefined` it must return the wildcard (`api.*.…`) form.
   */
  grant(apiId: string | undefined): string[];
  /** A body naming a resource that does not exist; omit for operations without one (createApi). */
  missing?: (h: Harness) => unknown;
  /**
   * How a refusal for lack of permission looks. Default 403. verifyKey answers 200 NOT_FOUND and whoami
   * 404 key_not_found, so that a root key without the permission cannot learn whether a key exists.
   */
  denied?: "403" | "404" | "verify-not-found";
};

const UNRELATED_PERMISSION = "api.*.read_analytics";

async function expectDenied(spec: SecuritySpec, res: { status: number; body: any }): Promise<void> {
  if (spec.denied === "verify-not-found") {
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ valid: false, code: "NOT_FOUND" });
  } else if (spec.denied === "404") {
    expect(res.status).toBe(404);
    expect(res.body.error.type).toMatch(/^https:\/\/unkey\.com\/docs\/errors\/unkey\/data\/.*_not_found$/);
  } else {
    expect(res.status).toBe(403);
    expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authorization/insufficient_permissions");
  }
}

export function describeSecurity(spec: SecuritySpec): void {
  const path = `/v2/${spec.operation}`;

  describe(`security: ${spec.operation}`, () => {
    it("400 without an Authorization header", async () => {
      const h = await Harness.init();
      const { body } = await spec.setup(h);
      const res = await h.post(path, body, { key: null });
      expect(res.status).toBe(400);
      expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authentication/missing");
      expect(res.body.error.errors).toEqual([expect.objectContaining({ location: "header.authorization" })]);
      expect(res.body.meta.requestId).toMatch(/^req_/);
    });

    it("400 with a malformed Authorization header", async () => {
      const h = await Harness.init();
      const { body } = await spec.setup(h);
      for (const header of ["Basic abc", "Bearer", "Bearer a b", h.rootKey]) {
        const res = await post(path, body, null, { authorization: header });
        expect(res.status, header).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authentication/malformed");
      }
    });

    it("401 with an unknown root key, and with a customer key used as a root key", async () => {
      const h = await Harness.init();
      const { body } = await spec.setup(h);
      const unknown = await h.post(path, body, { key: "latch_root_unknownUnknownUnknown" });
      expect(unknown.status).toBe(401);
      expect(unknown.body.error.type).toBe("https://unkey.com/docs/errors/unkey/authentication/key_not_found");
      const customer = await h.createKey();
      const notRoot = await h.post(path, body, { key: customer.key });
      expect(notRoot.status).toBe(401);
      expect(notRoot.body.error).toEqual(unknown.body.error);
    });

    it("refuses a root key without the permission", async () => {
      const h = await Harness.init();
      const { body } = await spec.setup(h);
      const key = await h.createRootKey([UNRELATED_PERMISSION]);
      await expectDenied(spec, await h.post(path, body, { key }));
    });

    it("refuses a root key holding the permission only for another API", async () => {
      const h = await Harness.init();
      const { body, apiId } = await spec.setup(h);
      if (apiId === undefined) return; // not an API-scoped operation
      const otherApiId = await h.createApi();
      const key = await h.createRootKey(spec.grant(otherApiId));
      await expectDenied(spec, await h.post(path, body, { key }));
    });

    it("accepts the narrowest grant and the wildcard grant", async () => {
      const h = await Harness.init();
      const first = await spec.setup(h);
      const narrow = await h.createRootKey(spec.grant(first.apiId));
      const res = await h.post(path, first.body, { key: narrow });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      if (spec.denied === "verify-not-found") expect(res.body.data.code).not.toBe("NOT_FOUND");

      const second = await spec.setup(h);
      const wildcard = await h.createRootKey(spec.grant(undefined));
      const res2 = await h.post(path, second.body, { key: wildcard });
      expect(res2.status, JSON.stringify(res2.body)).toBe(200);
    });

    if (spec.missing) {
      const missing = spec.missing;
      it("another workspace's resource looks exactly like a missing one", async () => {
        const mine = await Harness.init();
        const theirs = await Harness.init();
        const { body: foreignBody } = await spec.setup(theirs);
        const foreign = await mine.post(path, foreignBody);
        const absent = await mine.post(path, missing(mine));
        expect(foreign.status).toBe(absent.status);
        if (spec.denied === "verify-not-found") {
          expect(foreign.body.data).toEqual({ valid: false, code: "NOT_FOUND" });
          expect(absent.body.data).toEqual({ valid: false, code: "NOT_FOUND" });
        } else {
          expect(foreign.status).toBe(404);
          expect(foreign.body.error.type).toBe(absent.body.error.type);
          expect(foreign.body.error.title).toBe(absent.body.error.title);
          expect(Object.keys(foreign.body.error).sort()).toEqual(Object.keys(absent.body.error).sort());
        }
        // And the owner still sees it: the refusal was about the workspace, not a broken resource.
        const owner = await theirs.post(path, foreignBody);
        expect(owner.status).toBe(200);
      });
    }
  });
}
