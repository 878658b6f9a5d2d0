/**
 * Static checks of the toolbox image's Dockerfile: what `docker build` would produce, checked
 * without a Docker engine (npm dockerfile-utils lints, dockerfile-ast parses).
 */
import assert from "node:assert/strict";
import { validate } from "dockerfile-utils";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { readRepoFile } from "./_yaml_docs.ts";

const TEXT = readRepoFile("Dockerfile");
const dockerfile = DockerfileParser.parse(TEXT);
const froms = dockerfile.getFROMs();
const runtimeStart = froms.at(-1)!.getRange().start.line;
const buildStage = froms.find((f) => f.getBuildStage() === "build");

/** Instructions of the final (runtime) stage, in order. */
const runtime: Instruction[] = dockerfile.getInstructions().filter((i) =>
  i.getRange().start.line > runtimeStart
);
const runtimeRuns = runtime.filter((i) => i.getKeyword() === "RUN").map((i) =>
  i.getRawArgumentsContent() ?? ""
)
  .join("\n");

Deno.test("the Dockerfile parses and dockerfile-utils reports no errors or warnings", () => {
  const problems = validate(TEXT).map((d) =>
    `line ${d.range.start.line + 1}: ${d.message} (severity ${d.severity})`
  );
  assert.deepEqual(problems, []);
});

Deno.test("every FROM is pinned by a sha256 digest, never latest", () => {
  assert.ok(froms.length >= 2, "expected a build stage and a runtime stage");
  for (const from of froms) {
    const image = from.getImage() ?? "";
    assert.match(from.getImageDigest() ?? "", /^sha256:[0-9a-f]{64}$/, `${image} has no digest`);
    assert.notEqual(from.getImageTag(), "latest", `${image} uses latest`);
  }
});

Deno.test("the build stage compiles both programs with deno task compile", () => {
  assert.ok(buildStage, "no stage named build");
  assert.equal(buildStage.getImageName(), "denoland/deno");
  const runs = dockerfile.getInstructions()
    .filter((i) => i.getKeyword() === "RUN" && i.getRange().start.line < runtimeStart)
    .map((i) => i.getRawArgumentsContent() ?? "");
  assert.ok(runs.some((r) => /\bdeno task compile\b/.test(r)), "no RUN deno task compile");
  assert.match(TEXT, /COPY --from=build \/src\/dist\/backup \/usr\/local\/bin\/backup/);
  assert.match(
    TEXT,
    /COPY --from=build \/src\/dist\/restore-drill \/usr\/local\/bin\/restore-drill/,
  );
});

Deno.test("deno task compile in deno.json builds dist/backup and dist/restore-drill", () => {
  const tasks = JSON.parse(readRepoFile("deno.json")).tasks as Record<string, string>;
  assert.match(tasks.compile ?? "", /--output dist\/backup backup\.ts/);
  assert.match(tasks.compile ?? "", /--output dist\/restore-drill restore_drill\.ts/);
  // The compiled binaries get exactly the permissions the deno run tasks use.
  const flags = (task: string) => (task.match(/--allow-[a-z]+/g) ?? []).sort().join(" ");
  for (const part of (tasks.compile ?? "").split("&&")) {
    assert.equal(flags(part), flags(tasks.backup ?? ""), `compile flags differ: ${part}`);
  }
});

Deno.test("the runtime stage is Debian bookworm-slim with the PG 18 client from PGDG, zstd and age", () => {
  assert.equal(froms.at(-1)!.getImageName(), "debian");
  assert.equal(froms.at(-1)!.getImageTag(), "bookworm-slim");
  assert.match(runtimeRuns, /apt\.postgresql\.org\.sh/);
  for (
    const pkg of ["postgresql-client-18", "zstd", "age", "ca-certificates", "bash", "coreutils"]
  ) {
    assert.match(runtimeRuns, new RegExp(`apt-get install[^\\n]*(\\n[^\\n]*)*\\b${pkg}\\b`), pkg);
  }
  assert.match(runtimeRuns, /rm -rf \/var\/lib\/apt\/lists/);
  assert.match(TEXT, /ENV PATH=\/usr\/lib\/postgresql\/18\/bin:/);
});

Deno.test("the runtime stage provides mc from a digest-pinned minio/mc image", () => {
  const mcStage = froms.find((f) => f.getImageName() === "minio/mc");
  assert.ok(mcStage, "no minio/mc stage");
  const copy = runtime.find((i) =>
    i.getKeyword() === "COPY" && /--from=mc\b.*\/usr\/local\/bin\/mc$/.test(i.getTextContent())
  );
  assert.ok(copy, "mc is not copied to /usr/local/bin/mc");
});

Deno.test("the image runs as a numeric non-root user", () => {
  const users = runtime.filter((i) => i.getKeyword() === "USER");
  assert.ok(users.length > 0, "no USER in the runtime stage");
  const last = users.at(-1)!.getRawArgumentsContent() ?? "";
  const [uid, gid] = last.split(":");
  assert.match(uid ?? "", /^\d+$/, `USER ${last} is not numeric`);
  assert.ok(Number(uid) > 0, "USER is root");
  if (gid !== undefined) assert.ok(Number(gid) > 0, "group is root");
  // The Kubernetes manifests run the toolbox as the same uid.
  assert.match(readRepoFile("manifests/cronjob-backup.yaml"), new RegExp(`runAsUser: ${uid}\\b`));
});

Deno.test("the image carries OCI labels filled from build args", () => {
  for (const label of ["source", "description", "licenses", "version", "revision"]) {
    assert.match(TEXT, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), label);
  }
  assert.match(TEXT, /^ARG VERSION/m);
  assert.match(TEXT, /^ARG REVISION/m);
});

Deno.test("toolbox-smoke prints the version of every tool the plan names", () => {
  assert.match(TEXT, /COPY docker\/toolbox-smoke\.sh \/usr\/local\/bin\/toolbox-smoke/);
  const smoke = readRepoFile("docker/toolbox-smoke.sh");
  for (
    const tool of [
      "pg_dumpall",
      "psql",
      "zstd",
      "age",
      "age-keygen",
      "mc",
      "backup",
      "restore-drill",
    ]
  ) {
    assert.match(smoke, new RegExp(`^check ${tool} ${tool} --version$`, "m"), tool);
  }
});

Deno.test(".dockerignore sends only the programs and the smoke script to the build", () => {
  const ignore = readRepoFile(".dockerignore").split("\n").map((l) => l.trim());
  assert.equal(ignore.find((l) => l !== "" && !l.startsWith("#")), "*");
  for (const path of ["deno.json", "deno.lock", "backup.ts", "restore_drill.ts", "lib/"]) {
    assert.ok(ignore.includes(`!${path}`), `${path} is not allowed into the build context`);
  }
  for (const copy of dockerfile.getCOPYs()) {
    if (copy.getFromFlag()) continue;
    for (const arg of copy.getArguments().slice(0, -1)) {
      const path = arg.getValue();
      assert.ok(ignore.includes(`!${path}`), `COPY ${path} is excluded by .dockerignore`);
    }
  }
});
