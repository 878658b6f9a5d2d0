/**
 * The value check against real servers, without S3: the all-types database on a PostgreSQL 18
 * (and 15) source whose TimeZone and bytea_output are not the scratch's, dumped by pg_dumpall 18
 * (and 15), parsed as the drill parses it, restored by psql 18 through the role filter into a
 * PostgreSQL 18 scratch, then compared value by value. Both servers' superuser is `user`, so the
 * dump's `CREATE ROLE "user";` must be filtered for the restore to pass.
 */
import assert from "node:assert/strict";
import { DumpParser } from "../lib/dump/parser.ts";
import { dumpSessionSettings, type SessionSettings } from "../lib/pg/dump_settings.ts";
import type { PgConnection } from "../lib/pg/tools.ts";
import { RoleFilterStream } from "../lib/dump/role_filter.ts";
import { checkValues } from "../lib/restore/value_check.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import { rowCounts } from "./harness/sample_data.ts";
import {
  ALL_TYPES_DATABASE,
  ALL_TYPES_TABLES,
  ALL_TYPES_TIME_ZONE,
  loadAllTypesSample,
} from "./harness/sample_data.ts";
import { requireTool } from "./harness/tools.ts";

const SCRATCH_TIME_ZONE = "America/St_Johns";
const RUN_TIMEOUT_MS = 120_000;

function connection(pg: PgServer): PgConnection {
  return { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
}

async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  stdin?: ReadableStream<Uint8Array>,
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    env: { ...env, PATH: "/usr/bin:/bin" },
    clearEnv: true,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).spawn();
  const feeding = stdin ? stdin.pipeTo(child.stdin) : Promise.resolve();
  const [out] = await Promise.all([child.output(), feeding]);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} failed (exit ${out.code}): ${stderr}`);
  return { stdout: out.stdout, stderr };
}

interface Restored {
  parser: DumpParser;
  roles: RoleFilterStream;
  settings: Record<string, SessionSettings>;
}

/** pg_dumpall of `source`, parsed with digests, restored by psql 18 into `scratch`. */
async function dumpAndRestore(
  source: PgServer,
  scratch: PgServer,
  pgDumpall: string,
  extraArgs: string[] = [],
): Promise<Restored> {
  const dump = await run(pgDumpall, ["--no-password", ...extraArgs], source.env);
  const parser = new DumpParser({ digests: true });
  parser.push(dump.stdout);
  parser.end();
  const roles = new RoleFilterStream(scratch.user);
  await run(
    requireTool("psql-18"),
    ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"],
    scratch.env,
    ReadableStream.from([dump.stdout]).pipeThrough(roles),
  );
  const settings = {
    [ALL_TYPES_DATABASE]: await dumpSessionSettings(connection(source), ALL_TYPES_DATABASE),
  };
  return { parser, roles, settings };
}

async function startPair(sourceVersion: 15 | 18): Promise<[PgServer, PgServer]> {
  const [source, scratch] = await Promise.all([
    startPostgres({
      version: sourceVersion,
      superuser: "user",
      name: `values-src${sourceVersion}`,
    }),
    startPostgres({ version: 18, superuser: "user", name: "values-scratch" }),
  ]);
  await Promise.all([
    loadAllTypesSample(source),
    scratch.psql(`ALTER SYSTEM SET TimeZone = '${SCRATCH_TIME_ZONE}'; SELECT pg_reload_conf();`),
  ]);
  return [source, scratch];
}

for (const sourceVersion of [18, 15] as const) {
  Deno.test(`value check, PostgreSQL ${sourceVersion} → 18: all-types database`, async (t) => {
    const pgDumpall = requireTool(sourceVersion === 18 ? "pg_dumpall-18" : "pg_dumpall-15");
    const [sourceServer, scratchServer] = await startPair(sourceVersion);
    await using source = sourceServer;
    await using scratch = scratchServer;
    // pg_dumpall 18 writes statistics sections only when asked.
    const restored = await dumpAndRestore(
      source,
      scratch,
      pgDumpall,
      sourceVersion === 18 ? ["--statistics"] : [],
    );
    const { parser, roles, settings } = restored;

    await t.step("the source session's TimeZone and bytea_output are recorded", () => {
      assert.deepEqual(settings[ALL_TYPES_DATABASE], {
        DateStyle: "ISO, MDY",
        IntervalStyle: "postgres",
        extra_float_digits: "3",
        TimeZone: ALL_TYPES_TIME_ZONE,
        bytea_output: "escape",
        lc_monetary: "C.UTF-8",
      });
    });

    await t.step(
      'the role filter drops CREATE ROLE "user" and its ALTER ROLE, and nothing else',
      () => {
        assert.deepEqual(roles.dropped.map((l) => l.replace(/ WITH .*/, " WITH ...")), [
          'CREATE ROLE "user";',
          'ALTER ROLE "user" WITH ...',
        ]);
        assert.match(roles.dropped[1]!, /PASSWORD '<redacted>'/);
      },
    );

    await t.step(
      "the parser counts what the source holds, function body notwithstanding",
      async () => {
        const counts = parser.counts()[ALL_TYPES_DATABASE]!;
        const server = (await rowCounts(source))[ALL_TYPES_DATABASE]!;
        assert.deepEqual(Object.keys(counts.tables).sort(), [...ALL_TYPES_TABLES].sort());
        assert.equal(counts.tables["public.fake"], 5);
        assert.equal(counts.tables["public.all_types"], server["public.all_types"]);
        assert.equal(counts.largeObjects, 2);
        assert.equal(parser.unheadedBlocks, 0);
      },
    );

    await t.step("every table is compared by value and none differs", async () => {
      const result = await checkValues(connection(scratch), parser.values(), settings);
      assert.deepEqual(result.diffs, []);
      assert.deepEqual(result.byCountOnly, []);
      assert.deepEqual(
        result.byValue.sort(),
        ALL_TYPES_TABLES.map((t) => `${ALL_TYPES_DATABASE}: ${t}`).sort(),
      );
      const rows = Object.values(parser.counts()[ALL_TYPES_DATABASE]!.tables);
      assert.equal(result.rows, rows.reduce((a, b) => a + b, 0));
      assert.equal(result.largeObjects, 2);
    });

    await t.step(
      "without recorded settings, setting-shaped tables are compared by count only, with the reason",
      async () => {
        const result = await checkValues(connection(scratch), parser.values(), undefined);
        assert.deepEqual(result.diffs, []);
        assert.deepEqual(result.byCountOnly, [{
          database: ALL_TYPES_DATABASE,
          table: "public.all_types",
          reason:
            "column tstz holds timestamptz: the manifest does not record the source's TimeZone",
        }]);
      },
    );

    await t.step(
      "a setting the scratch cannot take makes its tables count-only, named",
      async () => {
        const odd = {
          [ALL_TYPES_DATABASE]: { ...settings[ALL_TYPES_DATABASE]!, lc_monetary: "xx_XX.UTF-8" },
        };
        const result = await checkValues(connection(scratch), parser.values(), odd);
        assert.deepEqual(result.diffs, []);
        assert.equal(result.byCountOnly.length, 1);
        assert.match(
          result.byCountOnly[0]!.reason,
          /^column m holds money: the scratch server cannot set lc_monetary to 'xx_XX\.UTF-8' as the source had it: /,
        );
      },
    );

    if (sourceVersion === 18) {
      await t.step("a changed value (same row count) is caught and the table named", async () => {
        await scratch.psql(
          `UPDATE all_types SET tstz = tstz + interval '1 microsecond' WHERE id = 1;
           UPDATE "user" SET "from" = 3 WHERE "select" = 'b';`,
          ALL_TYPES_DATABASE,
        );
        const result = await checkValues(connection(scratch), parser.values(), settings);
        assert.deepEqual(result.diffs, [
          "alltypes: table public.all_types has the backup's 503 rows but different values",
          'alltypes: table public."user" has the backup\'s 2 rows but different values',
        ]);
      });

      await t.step("a changed large object is caught", async () => {
        await scratch.psql(
          "SELECT lo_put(min(oid), 0, '\\x01'::bytea) FROM pg_largeobject_metadata",
          ALL_TYPES_DATABASE,
        );
        const result = await checkValues(connection(scratch), parser.values(), settings);
        assert.ok(
          result.diffs.includes(
            "alltypes: large object contents differ from the backup (2 restored, 2 in the backup)",
          ),
          result.diffs.join("; "),
        );
      });
    }
  });
}
