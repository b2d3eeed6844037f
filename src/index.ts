import { createApp } from "./app";

export { KeyState } from "./durable/key-state";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
