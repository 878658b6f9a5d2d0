/**
 * The docs stay true: the generated references match the code, every repository path a
 * Markdown file names exists, every flag given to `backup` or `restore-drill` is one the program
 * takes, README.md and RUNBOOK.md stay short enough to use, and every alert links to its RUNBOOK
 * section, which the RUNBOOK's index lists.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { BACKUP_SETTINGS, DRILL_SETTINGS } from "../../lib/config.ts";
import { settingsTable } from "../../lib/settings.ts";
import { renderDocs } from "../../scripts/docs.ts";
import { at, listAt, readRepoFile, readYamlDocs, ROOT } from "./_yaml_docs.ts";

/** Every Markdown file of the repository (git's list: what a clone has). */
function markdownFiles(): string[] {
  const out = new Deno.Command("git", { args: ["ls-files", "*.md"], cwd: ROOT, stdout: "piped" })
    .outputSync();
  const files = new TextDecoder().decode(out.stdout).split("\n").filter((f) => f !== "");
  // Files not committed yet count too (the docs being written).
  for (const f of ["README.md", "RUNBOOK.md", "docs/design.md", "docs/benchmarks.md"]) {
    if (!files.includes(f) && existsSync(new URL(f, ROOT))) files.push(f);
  }
  return files;
}

/** GitHub's anchor for a heading: lower case, punctuation gone, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m) anchors.add(anchorOf(m[1]!));
  }
  return anchors;
}

Deno.test("docs/settings.md and docs/metrics.md are what deno task docs writes from the code", () => {
  for (const [path, text] of Object.entries(renderDocs())) {
    assert.equal(readRepoFile(path), text, `${path} is stale: run deno task docs`);
  }
});

Deno.test("every repository path named in a Markdown file exists", () => {
  const path =
    /(?<![\w/.$-])((?:lib|tests|scripts|manifests|docs|docker|\.github|\.ci)\/[\w./-]*[\w/]|(?:README|RUNBOOK)\.md|Dockerfile|Makefile|compose\.yaml|deno\.json|backup\.ts|restore_drill\.ts)(?![\w*<>{-])/g;
  const missing: string[] = [];
  for (const file of markdownFiles()) {
    for (const [i, line] of readRepoFile(file).split("\n").entries()) {
      for (const m of line.matchAll(path)) {
        if (!existsSync(new URL(m[1]!, ROOT))) missing.push(`${file}:${i + 1}: ${m[1]}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("every flag the docs give backup or restore-drill is in that program's --help", () => {
  const help = {
    backup: settingsTable(BACKUP_SETTINGS).help("backup", ""),
    "restore-drill": settingsTable(DRILL_SETTINGS).help("restore-drill", ""),
  };
  const flagsOf = (text: string) => new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? []);
  const known = { backup: flagsOf(help.backup), "restore-drill": flagsOf(help["restore-drill"]) };
  // An invocation: the program's name (or its entrypoint or deno task), then its arguments up
  // to the end of the command.
  const invocation =
    /(?:^|[\s"'`(|;&])(?:\/usr\/local\/bin\/)?(backup|restore-drill|backup\.ts|restore_drill\.ts|deno task backup|deno task drill)((?:[ \t]+[^\s|;&`)]+)*)/g;
  const program = (name: string) =>
    /^(backup|backup\.ts|deno task backup)$/.test(name) ? "backup" : "restore-drill";
  const unknown: string[] = [];
  let seen = 0;
  for (const file of markdownFiles()) {
    for (const [i, line] of readRepoFile(file).split("\n").entries()) {
      for (const m of line.matchAll(invocation)) {
        const which = program(m[1]!);
        for (const flag of m[2]!.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? []) {
          seen++;
          if (!known[which].has(flag)) unknown.push(`${file}:${i + 1}: ${which} ${flag}`);
        }
      }
    }
  }
  assert.deepEqual(unknown, []);
  assert.ok(seen >= 10, `only ${seen} flags found in the docs: is the pattern still right?`);
});

Deno.test("every RUNBOOK section a hint, a manifest or a comment names is a RUNBOOK heading", () => {
  const headings = new Set(
    readRepoFile("RUNBOOK.md").split("\n").map((l) => /^#{2,6}\s+(.*)$/.exec(l)?.[1])
      .filter((h) => h !== undefined),
  );
  const out = new Deno.Command("git", {
    args: ["ls-files", "*.ts", "*.yaml", "*.yml", "*.sh", "Dockerfile", "compose.yaml"],
    cwd: ROOT,
    stdout: "piped",
  }).outputSync();
  const files = new TextDecoder().decode(out.stdout).split("\n").filter((f) => f !== "");
  const named = /RUNBOOK(?:\.md)?,?\s+(?:section\s+)?"([^"$\n]+)"/g;
  const missing: string[] = [];
  let seen = 0;
  for (const file of files) {
    if (file === "tests/static/docs_test.ts") continue;
    for (const m of readRepoFile(file).matchAll(named)) {
      seen++;
      if (!headings.has(m[1]!)) missing.push(`${file}: "${m[1]}"`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(seen >= 20, `only ${seen} references found: is the pattern still right?`);
});

Deno.test("README.md stays under 12 KB and RUNBOOK.md under 40 KB, no RUNBOOK line over 240", () => {
  const size = (f: string) => new TextEncoder().encode(readRepoFile(f)).length;
  assert.ok(size("README.md") <= 12 * 1024, `README.md is ${size("README.md")} bytes`);
  assert.ok(size("RUNBOOK.md") <= 40 * 1024, `RUNBOOK.md is ${size("RUNBOOK.md")} bytes`);
  const long = readRepoFile("RUNBOOK.md").split("\n").map((l, i) => [i + 1, l.length] as const)
    .filter(([, n]) => n > 240);
  assert.deepEqual(long, [], "RUNBOOK.md lines over 240 characters (line, length)");
});

/** Every alert of every shipped PrometheusRule, with its runbook_url. */
function alerts(): { file: string; alert: string; url: string }[] {
  const files = [
    "manifests/monitoring/prometheusrule.yaml",
    "manifests/monitoring/pushed-metrics/prometheusrule.yaml",
  ];
  return files.flatMap((file) =>
    readYamlDocs(file).flatMap((doc) =>
      listAt(doc.value, "spec", "groups").flatMap((g) =>
        listAt(g, "rules").filter((r) => r.alert).map((r) => ({
          file,
          alert: String(r.alert),
          url: String(at(r, "annotations", "runbook_url")),
        }))
      )
    )
  );
}

Deno.test("every alert's runbook_url ends in its RUNBOOK section, the address set in one place", () => {
  const anchors = anchorsOf(readRepoFile("RUNBOOK.md"));
  const all = alerts();
  assert.ok(all.length >= 7, `${all.length} alerts`);
  for (const { file, alert, url } of all) {
    const m = /^RUNBOOK#(.+)$/.exec(url);
    assert.ok(m, `${file} ${alert}: runbook_url ${url} is not RUNBOOK#<section>`);
    assert.equal(m[1], anchorOf(alert), `${alert}'s anchor`);
    assert.ok(anchors.has(m[1]!), `${alert}: RUNBOOK.md has no section #${m[1]}`);
  }
  // The address: one ConfigMap, read by kustomize and never applied, put into every rule.
  const base = readYamlDocs("manifests/kustomization.yaml")[0]!.value;
  assert.ok((at(base, "resources") as string[]).includes("runbook.yaml"));
  const source = readYamlDocs("manifests/runbook.yaml")[0]!.value;
  assert.equal(at(source, "metadata", "annotations", "config.kubernetes.io/local-config"), "true");
  assert.match(String(at(source, "data", "url")), /^https:\/\/\S+\/RUNBOOK\.md$/);
  for (const dir of ["monitoring", "monitoring/pushed-metrics"]) {
    const component = readYamlDocs(`manifests/${dir}/kustomization.yaml`)[0]!.value;
    const [replacement] = listAt(component, "replacements");
    assert.deepEqual(at(replacement, "source"), {
      kind: "ConfigMap",
      name: at(source, "metadata", "name"),
      fieldPath: "data.url",
    }, dir);
    const [target] = listAt(replacement, "targets");
    assert.deepEqual(at(target, "fieldPaths"), [
      "spec.groups.*.rules.*.annotations.runbook_url",
    ]);
    assert.deepEqual(at(target, "options"), { delimiter: "#", index: 0 });
  }
});

Deno.test("RUNBOOK.md opens with an index from every alert and failure to its section", () => {
  const runbook = readRepoFile("RUNBOOK.md");
  const anchors = anchorsOf(runbook);
  // The index comes before the first section that is not the facts box or the index itself.
  const index = runbook.split(/\n## /).slice(0, 3).join("\n## ");
  const links = new Set([...index.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!));
  const wanted = [
    ...alerts().map((a) => anchorOf(a.alert)),
    "check-in-late",
    "check-in-fail",
    "sha256-mismatch",
    "i-must-restore-now",
  ];
  for (const anchor of wanted) {
    assert.ok(links.has(anchor), `the index has no link to #${anchor}`);
    assert.ok(anchors.has(anchor), `RUNBOOK.md has no section #${anchor}`);
  }
  for (const link of links) {
    assert.ok(anchors.has(link), `the index links #${link}, which is not there`);
  }
});
