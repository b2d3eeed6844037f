import { createApp } from "./app";

export { KeyState } from "./durable/key-state";
export { RateLimiter } from "./durable/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
