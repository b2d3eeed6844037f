import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import type { PermissionsCreatePermissionResponse } from "../../../src/routes/v2/permissions.createPermission";
import { Harness } from "../../harness";
import { describeSecurity } from "../../security";

function slug(label: string): string {
  return `${label}.${crypto.randomUUID().slice(0, 8)}`;
}

describe("permissions.createPermission", () => {
  describe("happy", () => {
    it("creates a permission that getPermission returns as stored", async () => {
      const h = await Harness.init();
      const s = slug("documents");
      const res = await h.post<PermissionsCreatePermissionResponse>("/v2/permissions.createPermission", {
        name: "Read documents",
        slug: s,
        description: "Lets a key read documents.",
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ meta: { requestId: expect.stringMatching(/^req_/) }, data: { permissionId: expect.stringMatching(/^perm_/) } });
      const got = await h.post("/v2/permissions.getPermission", { permission: res.body.data.permissionId });
      expect(got.body.data).toEqual({ id: res.body.data.permissionId, name: "Read documents", slug: s, description: "Lets a key read documents." });
    });

    it("omits an absent description, and accepts every character of Unkey's slug alphabet", async () => {
      const h = await Harness.init();
      const s = `Aa0_:-.*${crypto.randomUUID().slice(0, 4)}`;
      const res = await h.post("/v2/permissions.createPermission", { name: "x", slug: s });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const got = await h.post("/v2/permissions.getPermission", { permission: s });
      expect(got.body.data).toEqual({ id: res.body.data.permissionId, name: "x", slug: s });
      const long = await h.post("/v2/permissions.createPermission", { name: "n".repeat(512), slug: "s".repeat(128), description: "d".repeat(512) });
      expect(long.status, JSON.stringify(long.body)).toBe(200);
    });

    it("the same slug may exist in another workspace", async () => {
      const h = await Harness.init();
      const other = await Harness.init();
      const s = slug("shared");
      const mine = await h.post("/v2/permissions.createPermission", { name: s, slug: s });
      const theirs = await other.post("/v2/permissions.createPermission", { name: s, slug: s });
      expect([mine.status, theirs.status]).toEqual([200, 200]);
      expect(mine.body.data.permissionId).not.toBe(theirs.body.data.permissionId);
    });

    it("works through the SDK", async () => {
      const h = await Harness.init();
      const s = slug("sdk");
      const res = await h.sdk().permissions.createPermission({ name: "SDK", slug: s, description: "via sdk" });
      expect(res.meta.requestId).toMatch(/^req_/);
      expect(res.data.permissionId).toMatch(/^perm_/);
      const got = await h.sdk().permissions.getPermission({ permission: res.data.permissionId });
      expect(got.data).toEqual({ id: res.data.permissionId, name: "SDK", slug: s, description: "via sdk" });
    });
  });

  describe("errors", () => {
    it("409 permission_already_exists for a slug the workspace has, also through the SDK", async () => {
      const h = await Harness.init();
      const s = slug("dup");
      expect((await h.post("/v2/permissions.createPermission", { name: "first", slug: s })).status).toBe(200);
      const res = await h.post("/v2/permissions.createPermission", { name: "second", slug: s });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ status: 409, type: "https://unkey.com/docs/errors/unkey/data/permission_already_exists" });
      await expect(h.sdk().permissions.createPermission({ name: "third", slug: s })).rejects.toBeInstanceOf(errors.ConflictErrorResponse);
      // The first one is untouched.
      expect((await h.post("/v2/permissions.getPermission", { permission: s })).body.data.name).toBe("first");
    });

    it("400 for bad names, slugs and descriptions, and unknown fields", async () => {
      const h = await Harness.init();
      const cases: Array<[unknown, string]> = [
        [{ slug: "a.b" }, "body.name"],
        [{ name: "", slug: "a.b" }, "body.name"],
        [{ name: "n".repeat(513), slug: "a.b" }, "body.name"],
        [{ name: "n" }, "body.slug"],
        [{ name: "n", slug: "" }, "body.slug"],
        [{ name: "n", slug: "s".repeat(129) }, "body.slug"],
        [{ name: "n", slug: "has space" }, "body.slug"],
        [{ name: "n", slug: "a/b" }, "body.slug"],
        [{ name: "n", slug: "é" }, "body.slug"],
        [{ name: "n", slug: "a.b", description: "d".repeat(513) }, "body.description"],
        [{ name: "n", slug: "a.b", description: null }, "body.description"],
        [{ name: "n", slug: "a.b", extra: 1 }, "body.extra"],
      ];
      for (const [body, location] of cases) {
        const res = await h.post("/v2/permissions.createPermission", body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.type).toBe("https://unkey.com/docs/errors/unkey/application/invalid_input");
        expect(res.body.error.errors.map((e: { location: string }) => e.location), JSON.stringify(body)).toContain(location);
      }
      // Nothing was created by the refused requests.
      expect((await h.post("/v2/permissions.getPermission", { permission: "a.b" })).status).toBe(404);
    });
  });

  describeSecurity({
    operation: "permissions.createPermission",
    setup: async () => {
      const s = slug("sec");
      return { body: { name: s, slug: s } };
    },
    grant: () => ["rbac.*.create_permission"],
  });
});
