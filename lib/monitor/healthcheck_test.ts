import assert from "node:assert/strict";
import { pingUrl } from "./healthcheck.ts";

Deno.test("pingUrl() appends /start and /fail to the check's URL and sends success to the URL itself", () => {
  const base = "https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278";
  assert.equal(pingUrl(base, "start"), `${base}/start`);
  assert.equal(pingUrl(base, "success"), base);
  assert.equal(pingUrl(base, "fail"), `${base}/fail`);
});

Deno.test("pingUrl() keeps a query string after the suffix and ignores a trailing slash", () => {
  assert.equal(
    pingUrl("https://kuma.example.invalid/api/push/tok3n?status=up", "fail"),
    "https://kuma.example.invalid/api/push/tok3n/fail?status=up",
  );
  assert.equal(
    pingUrl("https://hc-ping.com/ping-key/postgres-backup/", "start"),
    "https://hc-ping.com/ping-key/postgres-backup/start",
  );
});
