/**
 * Static checks of manifests/s3-policies/: each IAM policy grants exactly the actions its
 * program's requests need, on the bucket and prefix the CronJobs name, in a form
 * `mc admin policy create` takes. tests/s3_policies_test.ts proves on a real RGW that they are
 * enough and that they refuse what they should.
 */
import assert from "node:assert/strict";
import { at, listAt, readRepoFile, readYamlDocs } from "./_yaml_docs.ts";

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: unknown;
}

function policy(name: string): { text: string; doc: { Version: string; Statement: Statement[] } } {
  const text = readRepoFile(`manifests/s3-policies/${name}.json`);
  return { text, doc: JSON.parse(text) };
}

/** Each granted action with the resources (and condition) it is granted on, sorted. */
function grants(name: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of policy(name).doc.Statement) {
    for (const action of s.Action) {
      const on = s.Resource.map((r) => s.Condition ? `${r} if ${JSON.stringify(s.Condition)}` : r);
      out[action] = [...(out[action] ?? []), ...on].sort();
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** S3_BUCKET and S3_PREFIX as both CronJobs set them. */
function bucketAndPrefix(): { bucket: string; prefix: string } {
  const found = new Set<string>();
  for (const file of ["manifests/cronjob-backup.yaml", "manifests/cronjob-restore-drill.yaml"]) {
    const spec = at(
      readYamlDocs(file)[0]!.value,
      "spec",
      "jobTemplate",
      "spec",
      "template",
      "spec",
    );
    const env = listAt(listAt(spec, "containers")[0], "env");
    const value = (n: string) => String(env.find((e) => e.name === n)?.value);
    found.add(JSON.stringify({ bucket: value("S3_BUCKET"), prefix: value("S3_PREFIX") }));
  }
  assert.equal(found.size, 1, `the CronJobs disagree: ${[...found].join(" ")}`);
  return JSON.parse([...found][0]!);
}

const { bucket, prefix } = bucketAndPrefix();
const BUCKET = `arn:aws:s3:::${bucket}`;
const LIST_PREFIX = `${BUCKET} if {"StringLike":{"s3:prefix":["${prefix}/*"]}}`;

Deno.test("the policies name the CronJobs' bucket and prefix: homelab-backup-postgres, postgresql-18", () => {
  assert.deepEqual({ bucket, prefix }, {
    bucket: "homelab-backup-postgres",
    prefix: "postgresql-18",
  });
});

Deno.test("the backup policy: write, tag, read and list its prefix, delete only under .tmp/", () => {
  assert.deepEqual(grants("postgres-backup"), {
    "s3:AbortMultipartUpload": [`${BUCKET}/${prefix}/*`],
    "s3:DeleteObject": [`${BUCKET}/${prefix}/.tmp/*`],
    "s3:GetLifecycleConfiguration": [BUCKET],
    "s3:GetObject": [`${BUCKET}/${prefix}/*`],
    "s3:ListBucket": [LIST_PREFIX],
    "s3:ListBucketMultipartUploads": [BUCKET],
    "s3:PutObject": [`${BUCKET}/${prefix}/*`],
    // The retention-class tag: x-amz-tagging on uploads, PutObjectTagging after the copies.
    "s3:PutObjectTagging": [`${BUCKET}/${prefix}/*`],
  });
});

Deno.test("the drill policy: list and read, write and tag only drill-report.json, never delete", () => {
  assert.deepEqual(grants("postgres-restore-drill"), {
    "s3:GetObject": [`${BUCKET}/${prefix}/*`],
    "s3:ListBucket": [LIST_PREFIX],
    // One `*` per date folder level: RGW's `*` does not match across `/` in the middle of an ARN.
    "s3:PutObject": [`${BUCKET}/${prefix}/*/*/*/drill-report.json`],
    // The report carries its backup's retention-class tag (x-amz-tagging on its PutObject).
    "s3:PutObjectTagging": [`${BUCKET}/${prefix}/*/*/*/drill-report.json`],
  });
});

Deno.test("the optional policies: --apply-lifecycle sets the rule, PRUNE deletes old backups", () => {
  assert.deepEqual(grants("postgres-backup-lifecycle"), {
    "s3:GetLifecycleConfiguration": [BUCKET],
    "s3:PutLifecycleConfiguration": [BUCKET],
  });
  assert.deepEqual(grants("postgres-backup-prune"), {
    "s3:DeleteObject": [`${BUCKET}/${prefix}/*`],
  });
});

Deno.test("every policy is an Allow-only IAM document that mc admin policy create takes", () => {
  const names = [...Deno.readDirSync(new URL("../../manifests/s3-policies/", import.meta.url))]
    .map((e) => e.name).sort();
  assert.deepEqual(names, [
    "postgres-backup-lifecycle.json",
    "postgres-backup-prune.json",
    "postgres-backup.json",
    "postgres-restore-drill.json",
  ]);
  for (const name of names.map((n) => n.replace(/\.json$/, ""))) {
    const { text, doc } = policy(name);
    assert.equal(doc.Version, "2012-10-17", name);
    // MinIO documents policy files of at most 2048 characters for mc admin policy create.
    assert.ok(text.length <= 2048, `${name}: ${text.length} characters`);
    for (const s of doc.Statement) {
      assert.equal(s.Effect, "Allow", `${name} ${s.Sid}`);
      assert.match(String(s.Sid), /^[A-Za-z0-9]+$/, `${name}: every statement has a Sid`);
      for (const a of s.Action) assert.doesNotMatch(a, /\*/, `${name}: wildcard action ${a}`);
    }
  }
});
