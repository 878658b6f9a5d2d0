import assert from "node:assert/strict";
import { isLoopbackHost } from "./guard.ts";

Deno.test("isLoopbackHost() accepts loopback addresses and localhost", () => {
  for (
    const host of [
      "127.0.0.1",
      "127.8.9.10",
      "localhost",
      "LocalHost",
      " localhost ",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
    ]
  ) {
    assert.equal(isLoopbackHost(host), true, host);
  }
});

Deno.test("isLoopbackHost() refuses every other host", () => {
  for (
    const host of [
      "10.10.10.209",
      "db.example.invalid",
      "postgresql-18-hl",
      "127.0.0.256",
      "127.0.0",
      "127.0.0.1.example.invalid",
      "localhost.example.invalid",
      "0.0.0.0",
      "::",
      "",
      "/var/run/postgresql",
    ]
  ) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});
