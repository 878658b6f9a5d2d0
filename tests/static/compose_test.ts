/**
 * Static checks of compose.yaml, the local stack for people with Docker: the same topology as
 * the Kubernetes deployment, checked without a Docker engine.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { BACKUP_SETTINGS, DRILL_SETTINGS } from "../../lib/config.ts";
import type { Setting } from "../../lib/settings.ts";
import { at, readYamlDocs, ROOT } from "./_yaml_docs.ts";

const compose = readYamlDocs("compose.yaml")[0]!.value;
const services = at(compose, "services") as Record<string, Record<string, unknown>>;
const service = (name: string) => {
  const found = services[name];
  assert.ok(found, `compose.yaml has no service ${name}`);
  return found;
};
const envOf = (name: string) => (service(name).environment ?? {}) as Record<string, string>;

Deno.test("compose.yaml has source, scratch, MinIO, the bucket one-shot, backup and drill", () => {
  for (const name of ["source", "scratch", "minio", "createbucket", "backup", "drill"]) {
    service(name);
  }
});

Deno.test("every compose image is pinned by digest or built from the Dockerfile", () => {
  for (const [name, svc] of Object.entries(services)) {
    if (svc.build !== undefined) {
      assert.equal(at(svc, "build", "context"), ".", `${name} builds something else`);
      continue;
    }
    assert.match(String(svc.image), /^[^@\s]+@sha256:[0-9a-f]{64}$/, `${name} is not pinned`);
  }
  assert.ok(existsSync(new URL("Dockerfile", ROOT)));
});

Deno.test("source and scratch run postgres:18, and the scratch superuser is not postgres", () => {
  for (const name of ["source", "scratch"]) {
    assert.match(String(service(name).image), /^postgres:18(\.\d+)?@sha256:/);
  }
  assert.notEqual(envOf("scratch").POSTGRES_USER ?? "postgres", "postgres");
  assert.equal(envOf("drill").SCRATCH_PGUSER, envOf("scratch").POSTGRES_USER);
});

Deno.test("the source cluster starts with the sample data script", () => {
  const mounts = (service("source").volumes ?? []) as string[];
  const init = mounts.find((m) => m.includes("/docker-entrypoint-initdb.d/"));
  assert.ok(init, "no init script mounted");
  const hostPath = init.split(":")[0]!;
  assert.ok(existsSync(new URL(hostPath, ROOT)), `${hostPath} is missing`);
});

Deno.test("the one-shot creates bucket homelab-backup-postgres once MinIO is healthy", () => {
  const oneShot = service("createbucket");
  assert.match(String(oneShot.image), /^minio\/mc[:@]/);
  assert.deepEqual(oneShot.command, ["mb", "--ignore-existing", "local/homelab-backup-postgres"]);
  assert.equal(at(oneShot, "depends_on", "minio", "condition"), "service_healthy");
  for (const job of ["backup", "drill"]) {
    assert.equal(
      at(service(job), "depends_on", "createbucket", "condition"),
      "service_completed_successfully",
    );
    assert.equal(envOf(job).S3_BUCKET, "homelab-backup-postgres");
    assert.equal(envOf(job).S3_ENDPOINT, "http://minio:9000");
  }
});

Deno.test("the drill reaches its scratch server on 127.0.0.1, as in the Kubernetes pod", () => {
  assert.equal(service("drill").network_mode, "service:scratch");
  assert.equal(envOf("drill").SCRATCH_PGHOST, "127.0.0.1");
  const command = (service("scratch").command as string[]).join(" ");
  assert.match(command, /listen_addresses=127\.0\.0\.1/);
  assert.equal(service("scratch").ports, undefined, "the scratch must not publish ports");
});

Deno.test("the backup and drill services run the image's programs with known settings", () => {
  const cases: [string, string, Record<string, Setting>][] = [
    ["backup", "backup", BACKUP_SETTINGS],
    ["drill", "restore-drill", DRILL_SETTINGS],
  ];
  for (const [name, binary, table] of cases) {
    assert.deepEqual(service(name).command, [binary]);
    assert.equal(service(name).user, "10001:10001");
    const known = new Set(Object.values(table).map((s) => s.env));
    const env = Object.keys(envOf(name));
    assert.deepEqual(env.filter((n) => !known.has(n)), [], `${name} sets unknown names`);
    const missing = Object.values(table).filter((s) => s.required && !env.includes(s.env));
    assert.deepEqual(missing.map((s) => s.env), [], `${name} misses required settings`);
  }
});
