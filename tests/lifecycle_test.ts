/**
 * Retention classes enforced by the bucket itself: the rules `backup --apply-lifecycle` writes,
 * read back with the AWS CLI, and a real expiry on Ceph RGW started with
 * `rgw lc debug interval = 10` (one lifecycle "day" lasts 10 seconds), so a daily-tagged object
 * goes within a minute or two while weekly- and monthly-tagged ones stay. Every wait is bounded.
 */
import assert from "node:assert/strict";
import { tagsOf } from "./harness/fixtures.ts";
import { runEntrypoint } from "./harness/run.ts";
import { startStack } from "./harness/stack.ts";

/** Seconds one lifecycle day lasts on the test's gateway. */
const DAY_SECONDS = 10;
/** The most a 1-day rule may take to expire an object here (measured: about a minute). */
const EXPIRY_BOUND_MS = 180_000;

Deno.test("lifecycle rules by retention class, enforced by RGW where a day lasts 10 seconds", async (t) => {
  await using stack = await startStack({
    sample: "simple",
    rgw: { lifecycleDaySeconds: DAY_SECONDS },
  });
  // 1 day for dailies, 4 weeks for weeklies, 12 months for monthlies: 10 s, 280 s and 3720 s.
  const env = { ...stack.backupEnv, RETENTION_DAYS: "1", KEEP_WEEKLY: "4", KEEP_MONTHLY: "12" };
  const prefix = `${stack.prefix}/`;

  await t.step(
    "--apply-lifecycle writes one rule per class, filtered by the prefix and the class tag, and the staging rule",
    async () => {
      const applied = await runEntrypoint("backup.ts", env, ["--apply-lifecycle"]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.lastLine.msg, "backup OK");
      assert.ok(applied.lines.some((l) => l.msg === "lifecycle rule set"), applied.stderr);
      const got = await stack.s3.aws([
        "s3api",
        "get-bucket-lifecycle-configuration",
        "--bucket",
        stack.bucket,
      ]);
      assert.equal(got.code, 0, got.stderr);
      // RGW 16.2 answers a filter of a prefix and one tag without its And: { Prefix, Tag }.
      type Filter = {
        Prefix?: string;
        Tag?: { Key: string; Value: string };
        And?: { Prefix?: string; Tags?: { Key: string; Value: string }[] };
      };
      const rules = (JSON.parse(got.stdout).Rules as { ID: string; Filter: unknown }[])
        .map(({ Filter, ...rule }) => {
          const f = Filter as Filter;
          const tags = f.And?.Tags ?? (f.Tag ? [f.Tag] : []);
          return {
            ...rule,
            prefix: f.And?.Prefix ?? f.Prefix,
            tags: tags.map((t) => `${t.Key}=${t.Value}`),
          };
        })
        .sort((a, b) => String(a.ID).localeCompare(String(b.ID)));
      const tagged = (c: string, days: number) => ({
        ID: `backup-toolbox-postgresql-18-${c}`,
        Status: "Enabled",
        prefix,
        tags: [`retention-class=${c}`],
        Expiration: { Days: days },
      });
      assert.deepEqual(rules, [
        tagged("daily", 1),
        tagged("monthly", 372),
        {
          ID: "backup-toolbox-postgresql-18-staging",
          Status: "Enabled",
          prefix,
          tags: [],
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
        tagged("weekly", 28),
      ]);
      // The next run reads them back as right for every class.
      const again = await runEntrypoint("backup.ts", env);
      assert.equal(again.code, 0, again.stderr);
      const ok = again.lines.find((l) => l.step === "lifecycle")!;
      assert.deepEqual([ok.level, ok.msg], ["info", "lifecycle rule OK"]);
      assert.deepEqual(again.lines.filter((l) => l.level === "warn"), []);
    },
  );

  await t.step(
    "a daily-tagged object expires after one lifecycle day while weekly-, monthly-tagged and untagged ones stay",
    async () => {
      const dir = `${prefix}2020/01/0`;
      const objects = {
        daily: `${dir}1/full.sql.zst`,
        weekly: `${dir}2/full.sql.zst`,
        monthly: `${dir}3/full.sql.zst`,
        untagged: `${dir}4/full.sql.zst`,
      };
      const body = `${await Deno.makeTempDir()}/body`;
      await Deno.writeTextFile(body, "an old backup");
      for (const [c, key] of Object.entries(objects)) {
        const put = await stack.s3.aws([
          "s3api",
          "put-object",
          "--bucket",
          stack.bucket,
          "--key",
          key,
          "--body",
          body,
          ...(c === "untagged" ? [] : ["--tagging", `retention-class=${c}`]),
        ]);
        assert.equal(put.code, 0, put.stderr);
      }
      await Deno.remove(body.slice(0, body.lastIndexOf("/")), { recursive: true });
      assert.deepEqual(await tagsOf(stack, objects.weekly), { "retention-class": "weekly" });
      const backups = (await stack.listKeys(prefix)).map((k) => k.key)
        .filter((k) => !k.startsWith(`${prefix}2020/`));
      assert.equal(backups.length, 3, backups.join());

      const t0 = performance.now();
      let keys = new Set<string>();
      for (;;) {
        keys = new Set((await stack.listKeys(prefix)).map((k) => k.key));
        if (!keys.has(objects.daily)) break;
        const waited = performance.now() - t0;
        assert.ok(
          waited < EXPIRY_BOUND_MS,
          `${objects.daily} (retention-class=daily, a 1-day rule of ${DAY_SECONDS} s) was still there after ${
            Math.round(waited / 1000)
          } s: RGW's lifecycle did not run (see ${stack.s3.dir}/log/client.rgw.log)`,
        );
        await new Promise((r) => setTimeout(r, 3000));
      }
      console.log(
        `lifecycle: the daily-tagged object expired ${
          Math.round((performance.now() - t0) / 1000)
        } s after it was written`,
      );
      for (const key of [objects.weekly, objects.monthly, objects.untagged, ...backups]) {
        assert.ok(keys.has(key), `${key} expired with the daily one`);
      }
    },
  );
});
