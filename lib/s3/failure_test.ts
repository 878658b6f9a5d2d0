import assert from "node:assert/strict";
import { classify, explain, permissionFor } from "./failure.ts";

const err = (fields: Record<string, unknown>, message = "x") =>
  Object.assign(new Error(message), fields);
const site = {
  bucket: "homelab-backup-postgres",
  endpoint: "http://10.10.10.209:9000",
  secret: "postgres-backup-s3-credentials",
  request: "upload part",
  key: "postgresql-18/.tmp/run/full.sql.zst.seg-0001",
};

Deno.test("classify() retries network failures, 5xx, 429, SlowDown and RequestTimeout", () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH"]) {
    assert.equal(classify(err({ code })).transient, true, code);
  }
  assert.equal(classify(err({}), { status: 503, s3Code: "SlowDown" }).cause, "HTTP 503 SlowDown");
  assert.equal(classify(err({}), { status: 502 }).cause, "HTTP 502");
  assert.equal(classify(err({}), { status: 502 }).transient, true);
  assert.equal(classify(err({}), { status: 429 }).transient, true);
  assert.equal(classify(err({ code: "RequestTimeout" }), { status: 400 }).transient, true);
  assert.equal(classify(err({ code: "InternalError" }), { status: 500 }).transient, true);
});

Deno.test("classify() fails at once on credentials, permissions and a missing bucket", () => {
  for (
    const [code, status] of [
      ["AccessDenied", 403],
      ["NoSuchBucket", 404],
      ["SignatureDoesNotMatch", 403],
      ["InvalidAccessKeyId", 403],
      ["NoSuchKey", 404],
      ["InvalidArgument", 400],
    ] as const
  ) {
    const failure = classify(err({ code }), { status });
    assert.equal(failure.transient, false, code);
    assert.equal(failure.code, code);
  }
  assert.equal(classify(err({ code: "ENOTFOUND" })).transient, false);
});

Deno.test("classify() names what the transport saw: a silent connection, a response cut short", () => {
  const silent = classify(err({ code: "ECONNRESET" }, "aborted"), { fault: "timeout" });
  assert.equal(silent.code, "Timeout");
  assert.equal(silent.transient, true);
  assert.equal(silent.cause, "no answer: aborted");
  const cut = classify(err({ code: "ECONNRESET" }, "aborted"), { status: 200, fault: "cut-short" });
  assert.deepEqual(cut, {
    code: "ResponseCutShort",
    status: undefined,
    transient: true,
    cause: "response cut short (ResponseCutShort)",
  });
});

Deno.test("classify() reads Deno's network errors that carry no code by their words", () => {
  assert.equal(classify(new Error("Connection refused (os error 111)")).code, "ECONNREFUSED");
  assert.equal(classify(new Error("socket hang up")).code, "ECONNRESET");
  assert.equal(classify(new Error("Broken pipe (os error 32)")).code, "EPIPE");
});

Deno.test("explain() words a network failure with the endpoint and a hint naming the settings", () => {
  const [reason, hint] = explain(classify(err({ code: "ECONNREFUSED" })), site);
  assert.equal(reason, "cannot reach http://10.10.10.209:9000: connection refused (ECONNREFUSED)");
  assert.match(hint, /^check S3_ENDPOINT, that the S3 server is up/);
  assert.match(hint, /raise S3_TIMEOUT_SECONDS or S3_RETRIES/);
});

Deno.test("explain() names the permission an AccessDenied request needs and the program's Secret", () => {
  const [reason, hint] = explain(classify(err({ code: "AccessDenied" }), { status: 403 }), {
    ...site,
    request: "delete object",
  });
  assert.equal(reason, "access denied (AccessDenied)");
  assert.equal(
    hint,
    'the key in AWS_ACCESS_KEY_ID (secret postgres-backup-s3-credentials) needs s3:DeleteObject on arn:aws:s3:::homelab-backup-postgres/postgresql-18/.tmp/run/full.sql.zst.seg-0001: attach the matching policy from manifests/s3-policies/ (RUNBOOK.md "S3 keys and policies")',
  );
});

Deno.test("permissionFor() maps each request the programs send to its IAM action", () => {
  assert.equal(
    permissionFor("check bucket", "b", "b"),
    "s3:ListBucket on arn:aws:s3:::b",
  );
  assert.equal(permissionFor("upload part", "b", "k"), "s3:PutObject on arn:aws:s3:::b/k");
  assert.equal(
    permissionFor("abort multipart upload", "b", "k"),
    "s3:AbortMultipartUpload on arn:aws:s3:::b/k",
  );
});

Deno.test("explain() names the endpoint of a server that kept answering errors", () => {
  const [reason, hint] = explain(
    classify(new Error("x"), { status: 503, s3Code: "SlowDown" }),
    site,
  );
  assert.equal(reason, "the S3 server at http://10.10.10.209:9000 kept failing: HTTP 503 SlowDown");
  assert.match(
    hint,
    /^check the S3 server at http:\/\/10\.10\.10\.209:9000 \(its logs, disks and load\)/,
  );
});
