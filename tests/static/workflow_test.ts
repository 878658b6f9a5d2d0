/** Static checks of .github/workflows/image.yml, which publishes the toolbox image. */
import assert from "node:assert/strict";
import { at, listAt, readRepoFile, readYamlDocs } from "./_yaml_docs.ts";

const workflow = readYamlDocs(".github/workflows/image.yml")[0]!.value;
const steps = listAt(workflow, "jobs", "image", "steps");
const text = readRepoFile(".github/workflows/image.yml");

Deno.test("the image workflow runs on v* tags and pushes ghcr.io/josevictor/backup-toolbox", () => {
  assert.deepEqual(at(workflow, "on", "push", "tags"), ["v*"]);
  assert.equal(at(workflow, "env", "IMAGE"), "ghcr.io/josevictor/backup-toolbox");
  assert.equal(at(workflow, "jobs", "image", "permissions", "packages"), "write");
  const build = steps.find((s) => String(s.uses).startsWith("docker/build-push-action@"));
  assert.equal(at(build, "with", "push"), true);
  assert.equal(at(build, "with", "file"), "Dockerfile");
});

Deno.test("every action the workflow uses is pinned by a full commit SHA", () => {
  for (const step of steps.filter((s) => s.uses !== undefined)) {
    assert.match(String(step.uses), /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, String(step.uses));
  }
});

Deno.test("the workflow smoke-tests the pushed digest and records it in summary and artifact", () => {
  assert.match(text, /toolbox-smoke/);
  assert.match(text, /GITHUB_STEP_SUMMARY/);
  assert.match(text, /kustomize edit set image \$\{IMAGE\}@\$\{DIGEST\}/);
  const upload = steps.find((s) => String(s.uses).startsWith("actions/upload-artifact@"));
  assert.equal(at(upload, "with", "path"), "image-digest.txt");
});
