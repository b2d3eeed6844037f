import { createApp } from "./app";

export { AuditLog } from "./durable/audit-log";
export { KeyState } from "./durable/key-state";
export { RateLimiter } from "./durable/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
