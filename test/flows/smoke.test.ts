import { describe, expect, it } from "vitest";
import { Harness } from "../harness";

describe("smoke", () => {
  it("creates and verifies a key", async () => {
    const h = await Harness.init();
    const { key, keyId } = await h.createKey({ prefix: "sk", name: "first" });
    expect(key.startsWith("sk_")).toBe(true);
    const v = await h.verify(key);
    expect(v).toMatchObject({ valid: true, code: "VALID", keyId, name: "first" });
    const sdk = h.sdk();
    const got = await sdk.keys.getKey({ keyId });
    expect(got.data.keyId).toBe(keyId);
  });
});
