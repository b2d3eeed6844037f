/**
 * The whole key lifecycle through Unkey's official TypeScript SDK (`@unkey/api`), pointed at Latch by
 * changing only its server URL. The SDK validates every response against its own schemas, so any shape it
 * does not expect fails here as a ResponseValidationError.
 */
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";
import { describe, expect, it } from "vitest";
import { Harness } from "../harness";

describe("Unkey SDK against Latch", () => {
  it("runs the whole lifecycle: APIs, keys, verify, update, reroll, list, delete", async () => {
    const h = await Harness.init();
    const unkey: Unkey = h.sdk();

    const { data: api } = await unkey.apis.createApi({ name: "sdk-lifecycle" });
    expect(api.apiId).toMatch(/^api_/);
    expect((await unkey.apis.getApi({ apiId: api.apiId })).data).toEqual({ id: api.apiId, name: "sdk-lifecycle" });

    const expires = Date.now() + 86_400_000;
    const created = await unkey.keys.createKey({
      apiId: api.apiId,
      prefix: "sdk",
      name: "customer key",
      externalId: "customer_7",
      meta: { tier: "gold" },
      expires,
      credits: { remaining: 100, refill: { interval: "daily", amount: 100 } },
      ratelimits: [{ name: "per_minute", limit: 60, duration: 60_000, autoApply: false }],
    });
    expect(created.meta.requestId).toMatch(/^req_/);
    const { keyId, key } = created.data;
    expect(key).toMatch(/^sdk_[1-9A-HJ-NP-Za-km-z]+$/);

    const verified = await unkey.keys.verifyKey({ key });
    expect(verified.data).toMatchObject({
      valid: true,
      code: "VALID",
      keyId,
      name: "customer key",
      meta: { tier: "gold" },
      expires,
      credits: 99,
      enabled: true,
      identity: { externalId: "customer_7" },
    });

    const got = await unkey.keys.getKey({ keyId });
    expect(got.data).toMatchObject({
      keyId,
      start: key.slice(0, 8),
      enabled: true,
      name: "customer key",
      credits: { remaining: 99, refill: { interval: "daily", amount: 100 } },
      identity: { externalId: "customer_7" },
      ratelimits: [{ name: "per_minute", limit: 60, duration: 60_000, autoApply: false }],
    });
    expect((await unkey.keys.whoami({ key })).data.keyId).toBe(keyId);

    await unkey.keys.updateKey({ keyId, name: "renamed", enabled: false, meta: null });
    const disabled = await unkey.keys.verifyKey({ key });
    expect(disabled.data).toMatchObject({ valid: false, code: "DISABLED", name: "renamed" });
    expect(disabled.data.meta).toBeUndefined();
    await unkey.keys.updateKey({ keyId, enabled: true });
    expect((await unkey.keys.verifyKey({ key })).data.code).toBe("VALID");

    const rerolled = await unkey.keys.rerollKey({ keyId, expiration: 0 });
    expect((await unkey.keys.verifyKey({ key })).data.code).toBe("EXPIRED");
    expect((await unkey.keys.verifyKey({ key: rerolled.data.key })).data).toMatchObject({ valid: true, name: "renamed" });

    const more = await Promise.all([1, 2, 3].map(() => unkey.keys.createKey({ apiId: api.apiId, externalId: "customer_8" })));
    // The SDK's page iterator follows Latch's cursors to the end.
    const seen: string[] = [];
    let pages = 0;
    for await (const page of await unkey.apis.listKeys({ apiId: api.apiId, limit: 2 })) {
      pages++;
      seen.push(...page.result.data.map((k) => k.keyId));
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([keyId, rerolled.data.keyId, ...more.map((m) => m.data.keyId)].sort());
    const byIdentity = await unkey.apis.listKeys({ apiId: api.apiId, externalId: "customer_8" });
    expect(byIdentity.result.data.map((k) => k.keyId).sort()).toEqual(more.map((m) => m.data.keyId).sort());

    await unkey.keys.deleteKey({ keyId: rerolled.data.keyId });
    expect((await unkey.keys.verifyKey({ key: rerolled.data.key })).data).toEqual({ valid: false, code: "NOT_FOUND" });
    await unkey.keys.deleteKey({ keyId: more[0]!.data.keyId, permanent: true });

    await unkey.apis.deleteApi({ apiId: api.apiId });
    expect((await unkey.keys.verifyKey({ key: more[1]!.data.key })).data.code).toBe("NOT_FOUND");
  });

  it("maps Latch's errors onto the SDK's typed errors", async () => {
    const h = await Harness.init();
    const unkey = h.sdk();
    await expect(unkey.keys.getKey({ keyId: "key_doesNotExist0000000" })).rejects.toBeInstanceOf(errors.NotFoundErrorResponse);
    await expect(unkey.apis.createApi({ name: "x" })).rejects.toBeInstanceOf(errors.BadRequestErrorResponse);
    await expect(h.sdk("latch_root_unknownKey000000").apis.createApi({ name: "valid" })).rejects.toBeInstanceOf(
      errors.UnauthorizedErrorResponse,
    );
    const readOnly = h.sdk(await h.createRootKey(["api.*.read_api"]));
    await expect(readOnly.apis.createApi({ name: "valid" })).rejects.toBeInstanceOf(errors.ForbiddenErrorResponse);
    // SDK 2.5.0 declares no 412 for createKey, so it surfaces as its generic APIError with the status.
    await expect(unkey.keys.createKey({ apiId: h.apiId, recoverable: true })).rejects.toMatchObject({ statusCode: 412 });
  });
});
