declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    EDGE_REPUBLISH_DELAY_MS?: string;
  }
}
