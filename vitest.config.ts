import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Pure logic in src/lib: plain Node, no Workers runtime.
        test: { name: "unit", include: ["src/**/*.test.ts"], environment: "node" },
      },
      {
        // Everything else runs inside workerd with real D1, KV and Durable Object bindings.
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
                // Tests drive time and caches explicitly; the delayed re-publish has its own test.
                EDGE_REPUBLISH_DELAY_MS: "0",
                // A fixed, test-only key-encryption key (32 bytes of 0x01), so vault tests do not depend on a
                // developer's .dev.vars. Tests that need other KEKs build their own services.
                VAULT_MASTER_KEYS: "kek_test:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          setupFiles: ["./test/apply-migrations.ts"],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
