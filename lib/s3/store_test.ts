import assert from "node:assert/strict";
import { rawRetentionRule, readRetentionRule, taggingHeader } from "./minio_adapter.ts";
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

Deno.test("taggingHeader() URL-encodes each tag as x-amz-tagging wants it; no tags, no header", () => {
  assert.deepEqual(taggingHeader({ "retention-class": "daily" }), {
    "x-amz-tagging": "retention-class=daily",
  });
  assert.deepEqual(taggingHeader({ "a b": "c&d", e: "f=g" }), {
    "x-amz-tagging": "a%20b=c%26d&e=f%3Dg",
  });
  assert.deepEqual(taggingHeader({}), {});
});

Deno.test("readRetentionRule() reads a prefix filter, a tag filter under And, and the old top-level Prefix", () => {
  assert.deepEqual(
    readRetentionRule({
      ID: "backup-toolbox-pg-weekly",
      Status: "Enabled",
      Filter: {
        And: { Prefix: "pg/", Tag: { Key: "retention-class", Value: "weekly" } },
      },
      Expiration: { Days: 56 },
    }),
    {
      id: "backup-toolbox-pg-weekly",
      enabled: true,
      prefix: "pg/",
      tags: { "retention-class": "weekly" },
      expireDays: 56,
      abortIncompleteDays: undefined,
    },
  );
  assert.deepEqual(
    readRetentionRule({
      ID: "two-tags",
      Status: "Disabled",
      Filter: { And: { Prefix: "", Tag: [{ Key: "a", Value: "1" }, { Key: "b", Value: "2" }] } },
    }).tags,
    { a: "1", b: "2" },
  );
  assert.deepEqual(
    readRetentionRule({
      ID: 7,
      Prefix: "old/",
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    }),
    { id: "7", enabled: true, prefix: "old/", expireDays: undefined, abortIncompleteDays: 1 },
  );
});

Deno.test("rawRetentionRule() writes what readRetentionRule() reads back", () => {
  const rules = [
    {
      id: "backup-toolbox-pg-daily",
      prefix: "pg/",
      tags: { "retention-class": "daily" },
      expireDays: 14,
      abortIncompleteDays: undefined,
    },
    {
      id: "backup-toolbox-pg-staging",
      prefix: "pg/",
      expireDays: undefined,
      abortIncompleteDays: 1,
    },
  ];
  for (const rule of rules) {
    assert.deepEqual(readRetentionRule(rawRetentionRule(rule)), { ...rule, enabled: true });
  }
  assert.deepEqual(rawRetentionRule(rules[0]!), {
    ID: "backup-toolbox-pg-daily",
    Status: "Enabled",
    Filter: { And: { Prefix: "pg/", Tag: [{ Key: "retention-class", Value: "daily" }] } },
    Expiration: { Days: 14 },
  });
});
