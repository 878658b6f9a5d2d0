/**
 * Static checks of `manifests/`: what an operator relies on when Flux or kubenix applies the
 * kustomize base. No cluster is needed; objects are validated against the Kubernetes API
 * schemas of npm kubernetes-models.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { ConfigMap, Secret } from "kubernetes-models/v1";
import { CronJob } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { CiliumNetworkPolicy } from "@kubernetes-models/cilium/cilium.io/v2";
import { BACKUP_SETTINGS, DRILL_SETTINGS } from "../../lib/config.ts";
import type { Setting } from "../../lib/settings.ts";
import { at, listAt, readRepoFile, readYamlDocs, ROOT, type YamlDoc } from "./_yaml_docs.ts";

const TOOLBOX = "ghcr.io/josevictor/backup-toolbox";
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const PINNED = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

const kustomization = readYamlDocs("manifests/kustomization.yaml")[0]!.value;
const baseFiles = (at(kustomization, "resources") as string[]).map((r) => `manifests/${r}`);
const baseDocs: YamlDoc[] = baseFiles.flatMap((f) => readYamlDocs(f));
const exampleSecretDocs = readYamlDocs("manifests/secret-s3-credentials.example.yaml");
const ageIdentityDocs = readYamlDocs("manifests/secret-age-identity.example.yaml");
const ciliumDocs = readYamlDocs("manifests/cilium/ciliumnetworkpolicy.yaml");
/** The optional Components for check-in pings' egress, and their example Secret. */
const healthcheckDocs = [
  ...readYamlDocs("manifests/healthchecks/networkpolicy.yaml"),
  ...readYamlDocs("manifests/cilium/healthchecks/ciliumnetworkpolicy.yaml"),
];
const healthcheckSecretDocs = readYamlDocs("manifests/healthchecks/secret.example.yaml");

function objectNamed(kind: string, name: string): Record<string, unknown> {
  const found = baseDocs.find((d) =>
    d.value.kind === kind && at(d.value, "metadata", "name") === name
  );
  assert.ok(found, `the base has no ${kind} named ${name}`);
  return found.value;
}

const backup = objectNamed("CronJob", "postgres-backup");
const drill = objectNamed("CronJob", "postgres-restore-drill");
const recover = objectNamed("CronJob", "postgres-recover");
const podSpec = (cronJob: unknown) =>
  at(cronJob, "spec", "jobTemplate", "spec", "template", "spec");
const containersOf = (cronJob: unknown) => [
  ...listAt(podSpec(cronJob), "initContainers"),
  ...listAt(podSpec(cronJob), "containers"),
];
const container = (cronJob: unknown, name: string) => {
  const found = containersOf(cronJob).find((c) => c.name === name);
  assert.ok(found, `no container ${name}`);
  return found;
};

/** The image a container runs once kustomize applies the `images:` entries. */
function renderedImage(image: string): string {
  const entry = listAt(kustomization, "images").find((i) => i.name === image);
  if (entry === undefined) return image;
  assert.match(String(entry.digest), DIGEST, `images entry for ${image} has no sha256 digest`);
  return `${String(entry.newName ?? image)}@${String(entry.digest)}`;
}

/** Env names a container sets, and the settings whose flag appears in its args. */
function settingsSetBy(c: Record<string, unknown>, table: Record<string, Setting>) {
  const envNames = listAt(c, "env").map((e) => String(e.name));
  const args = [...(at(c, "args") as string[] | undefined ?? [])];
  const byFlag = Object.values(table)
    .filter((s) => args.some((a) => a === `--${s.flag}` || a.startsWith(`--${s.flag}=`)))
    .map((s) => s.env);
  return { envNames, set: new Set([...envNames, ...byFlag]) };
}

Deno.test("every manifest object validates against the Kubernetes API schema of its kind", () => {
  const models: Record<string, (v: Record<string, unknown>) => { validate(): void }> = {
    "v1/ConfigMap": (v) => new ConfigMap(v),
    "v1/Secret": (v) => new Secret(v),
    "batch/v1/CronJob": (v) => new CronJob(v as ConstructorParameters<typeof CronJob>[0]),
    "networking.k8s.io/v1/NetworkPolicy": (v) => new NetworkPolicy(v),
    "cilium.io/v2/CiliumNetworkPolicy": (v) =>
      new CiliumNetworkPolicy(v as ConstructorParameters<typeof CiliumNetworkPolicy>[0]),
  };
  const all = [
    ...baseDocs,
    ...exampleSecretDocs,
    ...ageIdentityDocs,
    ...ciliumDocs,
    ...healthcheckDocs,
  ];
  assert.ok(
    all.length >= 7,
    `expected the base, the example Secret and cilium/, got ${all.length}`,
  );
  for (const doc of all) {
    const key = `${String(doc.value.apiVersion)}/${String(doc.value.kind)}`;
    const model = models[key];
    assert.ok(model, `${doc.file} #${doc.index}: no schema check for ${key}`);
    assert.doesNotThrow(() => model(doc.value).validate(), `${doc.file} #${doc.index} (${key})`);
  }
});

Deno.test("the kustomization targets namespace apps and every resource it lists exists", () => {
  assert.equal(kustomization.namespace, "apps");
  assert.equal(kustomization.kind, "Kustomization");
  for (const file of baseFiles) assert.ok(existsSync(new URL(file, ROOT)), `${file} is missing`);
  for (const dir of ["cilium", "healthchecks", "cilium/healthchecks"]) {
    const component = readYamlDocs(`manifests/${dir}/kustomization.yaml`)[0]!.value;
    assert.equal(component.kind, "Component", dir);
    for (const r of at(component, "resources") as string[]) {
      assert.ok(existsSync(new URL(`manifests/${dir}/${r}`, ROOT)), `${dir}/${r} is missing`);
    }
  }
});

Deno.test("the example Secret and the Cilium variant stay out of the base resources", () => {
  const resources = at(kustomization, "resources") as string[];
  assert.ok(!resources.some((r) => r.includes("example")), "the example Secret is in the base");
  assert.ok(!resources.some((r) => r.startsWith("cilium")), "cilium/ is in the base");
  assert.ok(!resources.some((r) => r.startsWith("healthchecks")), "healthchecks/ is in the base");
  assert.ok(!baseDocs.some((d) => d.value.kind === "Secret"), "the base must not create Secrets");
});

Deno.test("every container image is pinned by digest once kustomize applies the images entry", () => {
  const entry = listAt(kustomization, "images").find((i) => i.name === TOOLBOX);
  assert.ok(entry, `kustomization.yaml has no images entry for ${TOOLBOX}`);
  for (const cronJob of [backup, drill, recover]) {
    for (const c of containersOf(cronJob)) {
      const image = String(c.image);
      assert.ok(!/:latest(@|$)/.test(image), `${String(c.name)} uses latest`);
      assert.match(renderedImage(image), PINNED, `${String(c.name)} image ${image} is not pinned`);
    }
  }
});

Deno.test("the backup runs daily at 02:30 and the drill on Sundays at 03:00, Sao Paulo time", () => {
  assert.equal(at(backup, "spec", "schedule"), "30 2 * * *");
  assert.equal(at(drill, "spec", "schedule"), "0 3 * * 0");
  for (const cronJob of [backup, drill]) {
    const spec = at(cronJob, "spec") as Record<string, unknown>;
    const job = at(spec, "jobTemplate", "spec") as Record<string, unknown>;
    assert.equal(spec.timeZone, "America/Sao_Paulo");
    assert.equal(spec.concurrencyPolicy, "Forbid");
    assert.equal(typeof spec.startingDeadlineSeconds, "number");
    assert.ok(Number(spec.successfulJobsHistoryLimit) <= 3, "successful history is not low");
    assert.ok(Number(spec.failedJobsHistoryLimit) <= 3, "failed history is not low");
    assert.ok(Number(job.backoffLimit) <= 2, "backoffLimit above 2");
    assert.equal(typeof job.activeDeadlineSeconds, "number");
    assert.equal(typeof job.ttlSecondsAfterFinished, "number");
    assert.equal(at(job, "template", "spec", "restartPolicy"), "Never");
  }
  assert.equal(at(backup, "spec", "jobTemplate", "spec", "backoffLimit"), 2);
});

Deno.test("postgres-recover never runs by itself: suspended, never due, never retried", () => {
  const spec = at(recover, "spec") as Record<string, unknown>;
  assert.equal(spec.suspend, true);
  assert.equal(spec.schedule, "0 0 31 2 *");
  assert.equal(at(spec, "jobTemplate", "spec", "backoffLimit"), 0);
  const c = container(recover, "recover");
  assert.deepEqual(c.command, ["/usr/local/bin/restore-drill"]);
  const env = Object.fromEntries(listAt(c, "env").map((e) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.RECOVER, "true");
  assert.equal(env.SCRATCH_PGHOST, "postgresql-18-hl");
  assert.equal(env.SCRATCH_ALLOW_REMOTE, "true");
  assert.deepEqual(env.SCRATCH_PGPASSWORD, {
    secretKeyRef: { name: "postgresql-auth", key: "admin-password" },
  });
  // It reads backups with the drill's read-only key.
  assert.deepEqual(env.AWS_ACCESS_KEY_ID, {
    secretKeyRef: { name: "postgres-restore-drill-s3-credentials", key: "AWS_ACCESS_KEY_ID" },
  });
  // What it restores comes from its ConfigMap, whose every key is a drill setting, and whose
  // empty RESTORE_DATABASES makes a Job from it refuse to start.
  assert.deepEqual(listAt(c, "envFrom").map((e) => at(e, "configMapRef", "name")), [
    "postgres-recover-config",
  ]);
  const config = objectNamed("ConfigMap", "postgres-recover-config");
  const known = new Set(Object.values(DRILL_SETTINGS as Record<string, Setting>).map((s) => s.env));
  const keys = Object.keys(at(config, "data") as Record<string, string>);
  assert.deepEqual(keys.filter((k) => !known.has(k)), []);
  assert.equal(at(config, "data", "RESTORE_DATABASES"), "");
  // The backup's name label: its NetworkPolicy lets the pods reach PostgreSQL and MinIO.
  assert.equal(
    at(
      recover,
      "spec",
      "jobTemplate",
      "spec",
      "template",
      "metadata",
      "labels",
      "app.kubernetes.io/name",
    ),
    "postgres-backup",
  );
});

Deno.test("the CronJobs run the image's backup and restore-drill binaries", () => {
  assert.deepEqual(container(backup, "backup").command, ["/usr/local/bin/backup"]);
  assert.deepEqual(container(drill, "restore-drill").command, ["/usr/local/bin/restore-drill"]);
});

Deno.test("the backup reads postgresql-18-hl and writes to the plan's MinIO bucket and prefix", () => {
  const env = Object.fromEntries(
    listAt(container(backup, "backup"), "env").map((e) => [e.name, e.value ?? e.valueFrom]),
  );
  assert.equal(env.PGHOST, "postgresql-18-hl");
  assert.equal(env.PGPORT, "5432");
  assert.equal(env.PGUSER, "postgres");
  assert.deepEqual(env.PGPASSWORD, {
    secretKeyRef: { name: "postgresql-auth", key: "admin-password" },
  });
  assert.equal(env.S3_ENDPOINT, "http://10.10.10.209:9000");
  assert.equal(env.S3_BUCKET, "homelab-backup-postgres");
  assert.equal(env.S3_PREFIX, "postgresql-18");
  assert.equal(env.TZ, "America/Sao_Paulo");
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
    assert.deepEqual(env[name], {
      secretKeyRef: { name: "postgres-backup-s3-credentials", key: name },
    });
  }
});

for (
  const [program, cronJob, name, table] of [
    ["backup", backup, "backup", BACKUP_SETTINGS],
    ["restore-drill", drill, "restore-drill", DRILL_SETTINGS],
  ] as const
) {
  Deno.test(`${program}'s manifest sets only ${program} settings and every required one`, () => {
    const settings = table as Record<string, Setting>;
    const known = new Set(Object.values(settings).map((s) => s.env));
    const { envNames, set } = settingsSetBy(container(cronJob, name), settings);
    const unknown = envNames.filter((n) => !known.has(n));
    assert.deepEqual(unknown, [], `env names the program does not read: ${unknown.join(", ")}`);
    const missing = Object.values(settings).filter((s) => s.required && !set.has(s.env));
    assert.deepEqual(missing.map((s) => s.env), [], "required settings the manifest leaves unset");
  });

  Deno.test(`${program}'s secret settings come from secretKeyRef or a file, never a value`, () => {
    const secrets = new Set(
      Object.values(table as Record<string, Setting>).filter((s) => s.secret).map((s) => s.env),
    );
    for (const e of listAt(container(cronJob, name), "env")) {
      if (!secrets.has(String(e.name))) continue;
      assert.equal(e.value, undefined, `${String(e.name)} has a literal value`);
      assert.ok(at(e, "valueFrom", "secretKeyRef"), `${String(e.name)} is not a secretKeyRef`);
    }
  });
}

Deno.test("no manifest holds a secret value; the example Secret holds only placeholders", () => {
  const suspicious = /(password|secret|token|private[_-]?key|access[_-]?key)/i;
  for (const doc of [...baseDocs, ...ciliumDocs, ...healthcheckDocs]) {
    assert.notEqual(doc.value.kind, "Secret", `${doc.file} holds a Secret`);
    assert.equal(doc.value.stringData, undefined, `${doc.file} has stringData`);
    for (const key of Object.keys((doc.value.data ?? {}) as Record<string, unknown>)) {
      assert.doesNotMatch(key, suspicious, `${doc.file} keeps ${key} in a ConfigMap`);
    }
  }
  for (const cronJob of [backup, drill, recover]) {
    for (const c of containersOf(cronJob)) {
      for (const e of listAt(c, "env")) {
        // A *_FILE variable names a file (e.g. POSTGRES_PASSWORD_FILE), not the secret itself.
        const pathToFile = String(e.name).endsWith("_FILE") && String(e.value).startsWith("/");
        if (suspicious.test(String(e.name)) && e.value !== undefined && !pathToFile) {
          assert.fail(`${String(c.name)} sets ${String(e.name)} to a literal value`);
        }
      }
    }
  }
  for (
    const { value: example } of [...exampleSecretDocs, ...ageIdentityDocs, ...healthcheckSecretDocs]
  ) {
    assert.equal(example.kind, "Secret");
    const values = Object.values(
      (example.stringData ?? example.data ?? {}) as Record<string, string>,
    );
    assert.ok(values.length > 0);
    for (const v of values) assert.match(v, /^<placeholder: [a-z_]+>$/, `not a placeholder: ${v}`);
  }
});

Deno.test("each job reads its S3 keys from its own Secret, both with the same key names", () => {
  const secretOf = (cronJob: unknown, name: string) =>
    listAt(container(cronJob, name), "env")
      .filter((e) => String(e.name).startsWith("AWS_"))
      .map((e) => [e.name, at(e, "valueFrom", "secretKeyRef")]);
  const keyNames = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
  assert.deepEqual(
    secretOf(backup, "backup"),
    keyNames.map((k) => [k, { name: "postgres-backup-s3-credentials", key: k }]),
  );
  assert.deepEqual(
    secretOf(drill, "restore-drill"),
    keyNames.map((k) => [k, { name: "postgres-restore-drill-s3-credentials", key: k }]),
  );
  // The example file shows both Secrets, with exactly the keys the jobs read.
  assert.deepEqual(
    exampleSecretDocs.map((d) => [
      at(d.value, "metadata", "name"),
      Object.keys(d.value.stringData as Record<string, string>),
    ]),
    [
      ["postgres-backup-s3-credentials", keyNames],
      ["postgres-restore-drill-s3-credentials", keyNames],
    ],
  );
});

Deno.test("the drill's scratch PostgreSQL is a native sidecar on 127.0.0.1 only", () => {
  const inits = listAt(podSpec(drill), "initContainers");
  const scratch = inits.find((c) => c.name === "scratch-postgres");
  assert.ok(scratch, "scratch-postgres must be an initContainer");
  assert.equal(scratch.restartPolicy, "Always");
  assert.match(String(scratch.image), /^postgres:18(\.\d+)?@sha256:[0-9a-f]{64}$/);
  const args = (scratch.args as string[]).join(" ");
  assert.match(args, /-c listen_addresses=127\.0\.0\.1(\s|$)/);
  assert.ok(at(scratch, "startupProbe", "exec"), "the sidecar needs a startupProbe");
  assert.match(JSON.stringify(at(scratch, "startupProbe")), /pg_isready/);
  const env = Object.fromEntries(listAt(scratch, "env").map((e) => [e.name, e.value]));
  assert.notEqual(env.POSTGRES_USER, "postgres", "the dump recreates role postgres");
  assert.equal(env.POSTGRES_PASSWORD, undefined, "the scratch password must not be a literal");
  const drillEnv = Object.fromEntries(
    listAt(container(drill, "restore-drill"), "env").map((e) => [e.name, e.value]),
  );
  assert.equal(drillEnv.SCRATCH_PGHOST, "127.0.0.1");
  assert.equal(drillEnv.SCRATCH_PGUSER, env.POSTGRES_USER);
  const data = listAt(scratch, "volumeMounts").find((m) => m.mountPath === "/var/lib/postgresql");
  const volume = listAt(podSpec(drill), "volumes").find((v) => v.name === data?.name);
  assert.ok(volume?.emptyDir, "scratch data must live in an emptyDir");
  assert.ok(!baseDocs.some((d) => d.value.kind === "Service"), "the scratch must have no Service");
});

Deno.test("the drill reads EXPECTED_DATABASES from ConfigMap postgres-restore-drill-config", () => {
  const e = listAt(container(drill, "restore-drill"), "env").find((v) =>
    v.name === "EXPECTED_DATABASES"
  );
  assert.deepEqual(at(e, "valueFrom", "configMapKeyRef"), {
    name: "postgres-restore-drill-config",
    key: "EXPECTED_DATABASES",
  });
  const cm = objectNamed("ConfigMap", "postgres-restore-drill-config");
  assert.equal(typeof at(cm, "data", "EXPECTED_DATABASES"), "string");
});

Deno.test("every job container runs non-root, read-only, without capabilities or escalation", () => {
  for (const cronJob of [backup, drill]) {
    const pod = podSpec(cronJob) as Record<string, unknown>;
    assert.equal(at(pod, "securityContext", "runAsNonRoot"), true);
    assert.equal(at(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault");
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of containersOf(cronJob)) {
      const name = String(c.name);
      const sc = at(c, "securityContext") as Record<string, unknown>;
      assert.equal(sc.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${name}: readOnlyRootFilesystem`);
      assert.deepEqual(at(sc, "capabilities", "drop"), ["ALL"], `${name}: capabilities`);
      assert.ok(Number(sc.runAsUser ?? at(pod, "securityContext", "runAsUser")) > 0, name);
      const tmp = listAt(c, "volumeMounts").some((m) => m.mountPath === "/tmp");
      const isPasswordInit = name === "scratch-password";
      assert.ok(tmp || isPasswordInit, `${name}: a read-only root needs an emptyDir on /tmp`);
      for (const kind of ["requests", "limits"]) {
        for (const r of ["cpu", "memory", "ephemeral-storage"]) {
          assert.ok(at(c, "resources", kind, r), `${name}: resources.${kind}.${r}`);
        }
      }
    }
  }
});

Deno.test("the backup may reach DNS, MinIO, postgresql-18 and the Pushgateway; the drill all but postgresql-18", () => {
  const policy = (name: string) => objectNamed("NetworkPolicy", name);
  const rules = (name: string) => JSON.stringify(at(policy(name), "spec", "egress"));
  for (const name of ["postgres-backup", "postgres-restore-drill"]) {
    assert.deepEqual(at(policy(name), "spec", "podSelector", "matchLabels"), {
      "app.kubernetes.io/name": name,
    });
    assert.deepEqual(at(policy(name), "spec", "policyTypes"), ["Ingress", "Egress"]);
    assert.match(rules(name), /"cidr":"10\.10\.10\.209\/32"/);
    assert.match(rules(name), /"protocol":"UDP","port":53/);
    assert.match(rules(name), /"protocol":"TCP","port":53/);
    assert.match(rules(name), /kube-system/);
  }
  for (const name of ["postgres-backup", "postgres-restore-drill"]) {
    const pushgateway = listAt(policy(name), "spec", "egress").find((rule) =>
      JSON.stringify(rule).includes("prometheus-pushgateway")
    );
    assert.deepEqual(pushgateway, {
      to: [{
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus-pushgateway" } },
      }],
      ports: [{ protocol: "TCP", port: 9091 }],
    }, name);
    assert.doesNotMatch(rules(name), /"port":443/, `${name}: check-in egress is opt-in`);
  }
  assert.match(rules("postgres-backup"), /"app.kubernetes.io\/instance":"postgresql-18"/);
  assert.doesNotMatch(rules("postgres-restore-drill"), /postgresql-18/);
  // The pods' labels must match the selectors, or the policies select nothing.
  for (const [cronJob, name] of [[backup, "postgres-backup"], [drill, "postgres-restore-drill"]]) {
    assert.equal(
      at(
        cronJob,
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "metadata",
        "labels",
        "app.kubernetes.io/name",
      ),
      name,
    );
  }
});

Deno.test("the README-level notes point operators at SOPS and the digest update command", () => {
  assert.match(readRepoFile("manifests/secret-s3-credentials.example.yaml"), /secretsFor/);
  assert.match(
    readRepoFile("manifests/kustomization.yaml"),
    /kustomize edit set image ghcr\.io\/josevictor\/backup-toolbox@sha256:/,
  );
});

Deno.test("the CronJobs read PUSHGATEWAY_URL and SHRINK_WARN_PERCENT from ConfigMap postgres-backup-monitoring", () => {
  const ref = (cronJob: unknown, name: string, env: string) =>
    at(listAt(container(cronJob, name), "env").find((e) => e.name === env), "valueFrom");
  for (const [cronJob, name] of [[backup, "backup"], [drill, "restore-drill"]] as const) {
    assert.deepEqual(ref(cronJob, name, "PUSHGATEWAY_URL"), {
      configMapKeyRef: {
        name: "postgres-backup-monitoring",
        key: "PUSHGATEWAY_URL",
        optional: true,
      },
    });
  }
  assert.deepEqual(ref(backup, "backup", "SHRINK_WARN_PERCENT"), {
    configMapKeyRef: {
      name: "postgres-backup-monitoring",
      key: "SHRINK_WARN_PERCENT",
      optional: true,
    },
  });
  const data = at(objectNamed("ConfigMap", "postgres-backup-monitoring"), "data");
  // Empty means no push: the base does not assume a Pushgateway exists.
  assert.deepEqual(data, { PUSHGATEWAY_URL: "", SHRINK_WARN_PERCENT: "50" });
});

Deno.test("each CronJob reads its own HEALTHCHECK_URL from the optional Secret postgres-backup-healthchecks", () => {
  const keys = healthcheckSecretDocs[0]!.value.stringData as Record<string, string>;
  for (const [cronJob, name] of [[backup, "backup"], [drill, "restore-drill"]] as const) {
    const e = listAt(container(cronJob, name), "env").find((v) => v.name === "HEALTHCHECK_URL");
    assert.deepEqual(at(e, "valueFrom"), {
      secretKeyRef: { name: "postgres-backup-healthchecks", key: name, optional: true },
    });
    assert.ok(name in keys, `the example Secret has no key ${name}`);
  }
  assert.equal(
    at(healthcheckSecretDocs[0]!.value, "metadata", "name"),
    "postgres-backup-healthchecks",
  );
});

Deno.test("the healthchecks Components let both jobs reach HTTPS; Cilium's only hc-ping.com", () => {
  const [np, cnp] = healthcheckDocs.map((d) => d.value);
  const jobs = {
    key: "app.kubernetes.io/name",
    operator: "In",
    values: ["postgres-backup", "postgres-restore-drill"],
  };
  assert.deepEqual(at(np, "spec", "podSelector", "matchExpressions"), [jobs]);
  assert.deepEqual(at(np, "spec", "policyTypes"), ["Egress"]);
  assert.deepEqual(at(np, "spec", "egress", 0, "ports"), [{ protocol: "TCP", port: 443 }]);
  assert.equal(at(np, "spec", "egress", 0, "to", 0, "ipBlock", "cidr"), "0.0.0.0/0");
  assert.deepEqual(at(cnp, "spec", "endpointSelector", "matchExpressions"), [jobs]);
  assert.deepEqual(at(cnp, "spec", "egress"), [{
    toFQDNs: [{ matchName: "hc-ping.com" }],
    toPorts: [{ ports: [{ port: "443", protocol: "TCP" }] }],
  }]);
});

Deno.test("the backup reads AGE_RECIPIENTS (public keys) from ConfigMap postgres-backup-config, empty by default", () => {
  const e = listAt(container(backup, "backup"), "env").find((v) => v.name === "AGE_RECIPIENTS");
  assert.deepEqual(at(e, "valueFrom", "configMapKeyRef"), {
    name: "postgres-backup-config",
    key: "AGE_RECIPIENTS",
    optional: true,
  });
  const cm = objectNamed("ConfigMap", "postgres-backup-config");
  assert.equal(at(cm, "data", "AGE_RECIPIENTS"), "", "encryption is opt-in");
  // The backup's pod holds no age identity, and nothing names AGE_IDENTITY_FILE there.
  assert.doesNotMatch(JSON.stringify(podSpec(backup)), /age-identity|AGE_IDENTITY_FILE/);
});

Deno.test("only the drill container mounts the age identity Secret: read-only, mode 0400, optional, at AGE_IDENTITY_FILE", () => {
  const volume = listAt(podSpec(drill), "volumes").find((v) =>
    at(v, "secret", "secretName") === "postgres-backup-age-identity"
  );
  assert.ok(volume, "no volume from Secret postgres-backup-age-identity");
  assert.equal(at(volume, "secret", "defaultMode"), 0o400);
  assert.equal(at(volume, "secret", "optional"), true, "plain backups must drill without it");
  assert.deepEqual(at(volume, "secret", "items"), [{ key: "identity.txt", path: "identity.txt" }]);
  const mounting = containersOf(drill).filter((c) =>
    listAt(c, "volumeMounts").some((m) => m.name === volume.name)
  );
  assert.deepEqual(mounting.map((c) => c.name), ["restore-drill"]);
  const mount = listAt(mounting[0], "volumeMounts").find((m) => m.name === volume.name)!;
  assert.equal(mount.readOnly, true);
  const env = listAt(container(drill, "restore-drill"), "env").find((v) =>
    v.name === "AGE_IDENTITY_FILE"
  );
  assert.equal(env?.value, `${String(mount.mountPath)}/identity.txt`);
  // The drill pod's fsGroup is what lets user 10001 read a 0400 file the kubelet owns.
  assert.ok(Number(at(podSpec(drill), "securityContext", "fsGroup")) > 0);
  assert.doesNotMatch(JSON.stringify(podSpec(backup)), /postgres-backup-age-identity/);
});

Deno.test("the age identity example is a placeholder Secret postgres-backup-age-identity, out of the base", () => {
  assert.deepEqual(
    ageIdentityDocs.map((d) => [
      d.value.kind,
      at(d.value, "metadata", "name"),
      Object.keys(d.value.stringData as Record<string, string>),
    ]),
    [["Secret", "postgres-backup-age-identity", ["identity.txt"]]],
  );
  const resources = at(kustomization, "resources") as string[];
  assert.ok(!resources.includes("secret-age-identity.example.yaml"));
  assert.match(readRepoFile("manifests/secret-age-identity.example.yaml"), /secretsFor/);
  assert.doesNotMatch(
    readRepoFile("manifests/secret-age-identity.example.yaml"),
    /AGE-SECRET-KEY-1[0-9A-Z]{10}/,
  );
});
