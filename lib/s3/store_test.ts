import assert from "node:assert/strict";
import { multipartEtag } from "./store.ts";

Deno.test("multipartEtag() is the MD5 of the parts' binary MD5s, then -<count>", () => {
  // Two parts of "a" and "b": md5("a") = 0cc175b9…, md5("b") = 92eb5ffe…
  assert.equal(
    multipartEtag(["0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"]),
    "96e024ba2074fe77e8e965ba43a704be-2",
  );
  assert.equal(multipartEtag(["not-an-md5"]), undefined);
  assert.equal(multipartEtag([]), undefined);
});
