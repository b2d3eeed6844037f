import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../../app";
import { MAX_ALERTS } from "../../lib/github-alerts";
import { ErrorEnvelope } from "../schemas";

export const operationId = "github.secretScanning";

/**
 * Documentation only: the body is checked by the service, after the signature, never by a validator
 * before it (so the schema is referenced, not attached as zod).
 */
const Alerts = z
  .array(
    z.strictObject({
      token: z.string().openapi({ description: "The leaked string." }),
      type: z.string().openapi({ description: "The token type agreed with GitHub." }),
      url: z.string().openapi({ description: "Where it was found (may be empty)." }),
      source: z.string().openapi({ description: "What GitHub scanned: content, commit, npm, …" }),
    }),
  )
  .min(1)
  .max(MAX_ALERTS)
  .openapi("GithubSecretScanningAlerts", { description: "GitHub's alert batch. Fields GitHub may add later are ignored." });

const Reply = z
  .array(z.object({ token_raw: z.string(), token_type: z.string(), label: z.enum(["true_positive", "false_positive"]) }))
  .openapi("GithubSecretScanningReply");

const failure = (description: string) => ({ description, content: { "application/json": { schema: ErrorEnvelope } } });

export const route = createRoute({
  method: "post",
  path: `/v2/${operationId}`,
  operationId,
  tags: ["github"],
  "x-latch-extension": true,
  summary: "Revoke leaked keys reported by GitHub secret scanning (Latch extension)",
  description:
    "GitHub's secret-scanning partner alerts. No root key: the request is authenticated by GitHub's ECDSA P-256 " +
    "signature over the raw body (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`), checked against " +
    "the keys in `GITHUB_SECRET_SCANNING_KEYS`. Every live key named is revoked, or disabled if its API's " +
    "`leakedKeyAction` is `disable`; root keys are always revoked. The reply is GitHub's format, not the envelope.",
  security: [{ githubSignature: [] }],
  request: { body: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/GithubSecretScanningAlerts" } } } } },
  responses: {
    200: { description: "One label per alert, in order.", content: { "application/json": { schema: Reply } } },
    400: failure("Missing signature headers, or a signed body that is not an alert batch."),
    401: failure("The signature does not verify against a configured key."),
    412: failure("Leaked-key reports are disabled: GITHUB_SECRET_SCANNING_KEYS is empty or invalid."),
    500: failure("Unexpected error."),
  },
});

export type GithubSecretScanningRequest = z.input<typeof Alerts>;
export type GithubSecretScanningResponse = z.infer<typeof Reply>;

export function register(app: App): void {
  app.openAPIRegistry.register("GithubSecretScanningAlerts", Alerts);
  app.openAPIRegistry.registerComponent("securitySchemes", "githubSignature", {
    type: "apiKey",
    in: "header",
    name: "Github-Public-Key-Signature",
    description: "GitHub's signature over the raw body, with the key named by `Github-Public-Key-Identifier`.",
  });
  app.openapi(route, async (c) => {
    const { leaks } = c.get("services");
    // The JSON middleware's cached text: the bytes received, decoded as strict UTF-8, so encoding it again
    // gives exactly those bytes back (never re-serialised JSON). A leading BOM is dropped by the decoder, so
    // such a body fails verification: a refusal, never an acceptance.
    const body = await c.req.text();
    await leaks.authenticate({
      body,
      keyIdentifier: c.req.header("github-public-key-identifier"),
      signature: c.req.header("github-public-key-signature"),
    });
    const reply = await leaks.report(body, {
      requestId: c.get("requestId"),
      remoteIp: c.req.header("cf-connecting-ip"),
      userAgent: c.req.header("user-agent"),
    });
    return c.json(reply, 200);
  });
}
