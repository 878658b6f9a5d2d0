/**
 * The alert rules of manifests/monitoring/, checked with the ecosystem's own tool: each
 * PrometheusRule's groups go through `promtool check rules`, then `promtool test rules` runs the
 * unit tests of tests/static/promtool/ (series in kube-state-metrics and Pushgateway form:
 * healthy is silent, each failure mode fires its alert). Plus what promtool cannot see: the
 * contract names, the labels and annotations on-call relies on, and the kustomize wiring.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { METRICS } from "../../lib/monitor/metrics.ts";
import { exec } from "../harness/process.ts";
import { requireTool } from "../harness/tools.ts";
import { at, listAt, readRepoFile, readYamlDocs, ROOT } from "./_yaml_docs.ts";
import YAML from "yaml";

/** Each PrometheusRule file and the promtool unit tests that cover it. */
const RULE_FILES = [
  {
    file: "manifests/monitoring/prometheusrule.yaml",
    tests: ["kube-state-metrics-backup.test.yaml", "kube-state-metrics-week.test.yaml"],
  },
  {
    file: "manifests/monitoring/pushed-metrics/prometheusrule.yaml",
    tests: ["pushed-metrics.test.yaml"],
  },
] as const;

/** The alerts the issue names; their names are a contract. */
const KSM_ALERTS = [
  "PostgresBackupMissing",
  "PostgresBackupFailed",
  "PostgresRestoreDrillMissing",
  "PostgresRestoreDrillFailed",
];

/** The kube-state-metrics series the first group may read. */
const KSM_SERIES = new Set([
  "kube_cronjob_status_last_successful_time",
  "kube_cronjob_created",
  "kube_cronjob_spec_suspend",
  "kube_job_owner",
  "kube_job_created",
  "kube_job_failed",
  "kube_job_status_completion_time",
]);

type Rule = { alert?: string; record?: string; expr: string; labels?: Record<string, string> } & {
  annotations?: Record<string, string>;
};

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set(["or", "and", "unless", "max", "time", "absent", "label_replace"]);

/** The metric names an expression reads: identifiers outside strings, selectors and modifiers. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\boffset\s+\w+/g, "");
  const words = bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => !PROMQL_WORDS.has(w)))];
}

function groupsOf(file: string): { name: string; rules: Rule[] }[] {
  return at(readYamlDocs(file)[0]!.value, "spec", "groups") as { name: string; rules: Rule[] }[];
}

/** Runs promtool in a temp dir holding the file's groups as rules.yaml (and the tests). */
async function promtool(file: string, args: (dir: string) => string[]): Promise<string> {
  const bin = requireTool("promtool");
  const dir = await Deno.makeTempDir({ prefix: "promtool-" });
  try {
    await Deno.writeTextFile(`${dir}/rules.yaml`, YAML.stringify({ groups: groupsOf(file) }));
    const run = await exec(bin, args(dir), { cwd: dir });
    const output = run.stdout + run.stderr;
    assert.equal(run.code, 0, output);
    return output;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const { file, tests } of RULE_FILES) {
  Deno.test(`promtool check rules accepts the groups of ${file}`, async () => {
    const output = await promtool(file, () => ["check", "rules", "rules.yaml"]);
    assert.match(output, /SUCCESS: \d+ rules found/);
  });

  Deno.test(`promtool test rules passes ${tests.join(", ")}`, async () => {
    const output = await promtool(file, (dir) => {
      for (const t of tests) {
        Deno.copyFileSync(new URL(`tests/static/promtool/${t}`, ROOT), `${dir}/${t}`);
      }
      return ["test", "rules", ...tests];
    });
    assert.equal(output.match(/SUCCESS/g)?.length, tests.length, output);
  });

  Deno.test(`${file} is a PrometheusRule that validates against the operator's schema`, () => {
    const doc = readYamlDocs(file)[0]!.value;
    assert.equal(doc.kind, "PrometheusRule");
    assert.doesNotThrow(() =>
      new PrometheusRule(doc as ConstructorParameters<typeof PrometheusRule>[0]).validate()
    );
  });
}

Deno.test("the kube-state-metrics group has exactly the four alerts the issue names", () => {
  const [group] = groupsOf(RULE_FILES[0].file);
  const alerts = group!.rules.filter((r) => r.alert).map((r) => r.alert);
  assert.deepEqual(alerts, KSM_ALERTS);
});

Deno.test("the kube-state-metrics group reads only kube-state-metrics series and its own records", () => {
  const [group] = groupsOf(RULE_FILES[0].file);
  const records = new Set(group!.rules.flatMap((r) => r.record ? [r.record] : []));
  for (const rule of group!.rules) {
    for (const name of metricNames(rule.expr)) {
      assert.ok(
        KSM_SERIES.has(name) || records.has(name),
        `${rule.alert ?? rule.record} reads ${name}, not a kube-state-metrics series`,
      );
    }
    assert.doesNotMatch(rule.expr, /backup_toolbox_/, `${rule.alert ?? rule.record}`);
  }
});

Deno.test("the pushed-metrics group reads only metrics the programs push", () => {
  for (const rule of groupsOf(RULE_FILES[1].file).flatMap((g) => g.rules)) {
    const names = metricNames(rule.expr);
    assert.ok(names.length > 0, `${rule.alert} reads no pushed metric`);
    for (const name of names) assert.ok(name in METRICS, `${rule.alert} reads unknown ${name}`);
  }
});

Deno.test("every alert has a severity, a summary, and a description naming its RUNBOOK section", () => {
  const runbook = readRepoFile("RUNBOOK.md");
  const headings = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim()));
  for (const { file } of RULE_FILES) {
    for (const rule of groupsOf(file).flatMap((g) => g.rules).filter((r) => r.alert)) {
      assert.ok(["critical", "warning", "info"].includes(rule.labels?.severity ?? ""), rule.alert);
      assert.ok(rule.annotations?.summary, `${rule.alert} has no summary`);
      const section = /See RUNBOOK\.md, section "([^"]+)"\.$/.exec(
        rule.annotations?.description ?? "",
      )?.[1];
      assert.equal(section, rule.alert, `${rule.alert}'s description must end with its section`);
      assert.ok(headings.has(section!), `RUNBOOK.md has no section "${section}"`);
    }
  }
});

Deno.test("the monitoring components exist, list their files, and stay out of the base", () => {
  const base = at(readYamlDocs("manifests/kustomization.yaml")[0]!.value, "resources") as string[];
  for (const dir of ["manifests/monitoring", "manifests/monitoring/pushed-metrics"]) {
    const component = readYamlDocs(`${dir}/kustomization.yaml`)[0]!.value;
    assert.equal(component.kind, "Component");
    for (const r of listAt(component, "resources") as unknown as string[]) {
      assert.ok(existsSync(new URL(`${dir}/${r}`, ROOT)), `${dir}/${r} is missing`);
    }
  }
  assert.ok(!base.some((r) => r.startsWith("monitoring")), "monitoring/ must stay opt-in");
});
