// A real oauth2-mock-server (npm, 8.x) for apirun's end-to-end tests, started
// through its library API so a test can see what the token endpoint did.
//
// Usage: node oauth2-server.mjs PORT_FILE LOG_FILE [EXPIRES_IN] [FAIL_STATUS]
//   PORT_FILE   once listening, the base URL (http://127.0.0.1:PORT) is written
//               here (temp file + rename, so a reader never sees half of it)
//   LOG_FILE    one JSON line per token response: grant_type, the client as
//               sent (body or Basic header), scope, username, status and the
//               access_token issued, so tests count token requests and check
//               which token reached the API
//   EXPIRES_IN  when given (and not "-"), every token's `expires_in` (and its `exp` claim)
//   FAIL_STATUS when given, every token request is answered with this status
//               and an RFC 6749 error body (invalid_client) instead of a token
//
// Module location: $APIRUN_TEST_NODE_MODULES (set by scripts/test-all.sh).
// Stops on SIGTERM / SIGINT, or when stdin closes (the test process died).

import { appendFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [portFile, logFile, expiresIn, failStatus] = process.argv.slice(2);
if (!portFile || !logFile) {
  console.error("usage: node oauth2-server.mjs PORT_FILE LOG_FILE [EXPIRES_IN]");
  process.exit(2);
}
const modules = process.env.APIRUN_TEST_NODE_MODULES;
if (!modules) {
  console.error("APIRUN_TEST_NODE_MODULES is not set; run scripts/test-all.sh");
  process.exit(2);
}
const { OAuth2Server } = await import(
  pathToFileURL(join(modules, "oauth2-mock-server", "dist", "index.mjs")).href
);

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");

const ttl = expiresIn === undefined || expiresIn === "-" ? undefined : Number(expiresIn);
if (ttl !== undefined) {
  server.service.on("beforeTokenSigning", (token) => {
    token.payload.exp = Math.floor(Date.now() / 1000) + ttl;
  });
}

server.service.on("beforeResponse", (response, req) => {
  if (ttl !== undefined) {
    response.body.expires_in = ttl;
  }
  if (failStatus !== undefined) {
    response.statusCode = Number(failStatus);
    response.body = {
      error: "invalid_client",
      error_description: "client authentication failed",
    };
  }
  const body = req.body ?? {};
  const basic = (req.headers.authorization ?? "").startsWith("Basic ")
    ? Buffer.from(req.headers.authorization.slice(6), "base64").toString()
    : null;
  appendFileSync(
    logFile,
    JSON.stringify({
      grant_type: body.grant_type ?? null,
      client_id: body.client_id ?? null,
      client_secret: body.client_secret ?? null,
      basic,
      scope: body.scope ?? null,
      username: body.username ?? null,
      refresh_token: body.refresh_token ?? null,
      status: response.statusCode,
      access_token: response.body.access_token ?? null,
    }) + "\n",
  );
});

await server.start(0, "127.0.0.1");
const address = server.address();
const url = `http://127.0.0.1:${address.port}`;
writeFileSync(portFile + ".tmp", url);
renameSync(portFile + ".tmp", portFile);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
