import assert from "node:assert/strict";
import {
  DATA_FILES,
  datePath,
  dayOfKey,
  fileNameOf,
  FILES,
  isEncryptedKey,
  keysForDataKey,
  keysForDate,
  normalizePrefix,
  runTempDir,
  tempRoot,
  withSlash,
} from "./keys.ts";

Deno.test("datePath() uses the time zone for the date folder", () => {
  const instant = new Date("2026-11-25T01:00:00Z");
  assert.equal(datePath(instant, "America/Sao_Paulo"), "2026/11/24");
  assert.equal(datePath(instant, "UTC"), "2026/11/25");
  assert.equal(datePath(instant, "Asia/Tokyo"), "2026/11/25");
  assert.equal(datePath(new Date("2026-01-05T23:30:00Z"), "Asia/Tokyo"), "2026/01/06");
  assert.equal(datePath(new Date("2027-01-01T02:59:59Z"), "America/Sao_Paulo"), "2026/12/31");
});

Deno.test("keysForDate() uses the time zone for the date folder", () => {
  const keys = keysForDate("postgresql-18", new Date("2026-11-25T01:00:00Z"), "America/Sao_Paulo");
  assert.deepEqual(keys, {
    dir: "postgresql-18/2026/11/24/",
    data: "postgresql-18/2026/11/24/full.sql.zst",
    sha256: "postgresql-18/2026/11/24/full.sql.zst.sha256",
    manifest: "postgresql-18/2026/11/24/manifest.json",
    drillReport: "postgresql-18/2026/11/24/drill-report.json",
  });
});

Deno.test("keysForDate() normalizes the prefix and allows an empty one", () => {
  const date = new Date("2026-03-09T12:00:00Z");
  assert.equal(keysForDate("/a/b/", date, "UTC").data, "a/b/2026/03/09/full.sql.zst");
  assert.equal(keysForDate("", date, "UTC").data, "2026/03/09/full.sql.zst");
  assert.equal(keysForDate("/", date, "UTC").dir, "2026/03/09/");
});

Deno.test("keysForDataKey() gives the sibling keys of a data object", () => {
  assert.deepEqual(keysForDataKey("postgresql-18/2026/11/24/full.sql.zst"), {
    dir: "postgresql-18/2026/11/24/",
    data: "postgresql-18/2026/11/24/full.sql.zst",
    sha256: "postgresql-18/2026/11/24/full.sql.zst.sha256",
    manifest: "postgresql-18/2026/11/24/manifest.json",
    drillReport: "postgresql-18/2026/11/24/drill-report.json",
  });
  assert.deepEqual(keysForDataKey("full.sql.zst"), {
    dir: "",
    data: FILES.data,
    sha256: FILES.sha256,
    manifest: FILES.manifest,
    drillReport: FILES.drillReport,
  });
});

Deno.test("keysForDataKey() names the standard data file even for another file name", () => {
  assert.equal(keysForDataKey("restore/other.sql.zst").data, "restore/full.sql.zst");
  assert.equal(keysForDataKey("restore/other.sql.zst").manifest, "restore/manifest.json");
});

Deno.test("keysForDate() names full.sql.zst.age and full.sql.zst.age.sha256 for an encrypted backup", () => {
  const keys = keysForDate("postgresql-18", new Date("2026-11-25T12:00:00Z"), "UTC", true);
  assert.deepEqual(keys, {
    dir: "postgresql-18/2026/11/25/",
    data: "postgresql-18/2026/11/25/full.sql.zst.age",
    sha256: "postgresql-18/2026/11/25/full.sql.zst.age.sha256",
    manifest: "postgresql-18/2026/11/25/manifest.json",
    drillReport: "postgresql-18/2026/11/25/drill-report.json",
  });
});

Deno.test("keysForDataKey() of a .zst.age key gives its .zst.age.sha256: the checksum follows the data key", () => {
  const keys = keysForDataKey("postgresql-18/2026/11/24/full.sql.zst.age");
  assert.equal(keys.data, "postgresql-18/2026/11/24/full.sql.zst.age");
  assert.equal(keys.sha256, "postgresql-18/2026/11/24/full.sql.zst.age.sha256");
  assert.equal(keys.manifest, "postgresql-18/2026/11/24/manifest.json");
  assert.equal(
    keysForDataKey("restore/other.sql.zst.age").sha256,
    "restore/full.sql.zst.age.sha256",
  );
});

Deno.test("isEncryptedKey() and DATA_FILES tell encrypted from plain data objects by name", () => {
  assert.equal(isEncryptedKey("p/2026/11/24/full.sql.zst.age"), true);
  assert.equal(isEncryptedKey("p/2026/11/24/full.sql.zst"), false);
  assert.deepEqual(DATA_FILES.map((f) => [f.data, f.sha256]), [
    ["full.sql.zst", "full.sql.zst.sha256"],
    ["full.sql.zst.age", "full.sql.zst.age.sha256"],
  ]);
  for (const f of DATA_FILES) assert.equal(f.sha256, `${f.data}.sha256`);
  assert.equal(fileNameOf("p/2026/11/24/full.sql.zst.age"), "full.sql.zst.age");
  assert.equal(fileNameOf("full.sql.zst"), "full.sql.zst");
});

Deno.test("runTempDir() is unique per run and under <prefix>/.tmp/", () => {
  const now = new Date("2026-11-25T05:29:51.123Z");
  const a = runTempDir("/postgresql-18/", now);
  const b = runTempDir("postgresql-18", now);
  assert.notEqual(a, b);
  for (const dir of [a, b]) {
    assert.ok(dir.startsWith(tempRoot("postgresql-18")), dir);
    assert.match(dir, /^postgresql-18\/\.tmp\/20261125T052951Z-[0-9a-f]{8}\/$/);
  }
  assert.match(runTempDir("", now), /^\.tmp\/20261125T052951Z-[0-9a-f]{8}\/$/);
});

Deno.test("tempRoot() and withSlash() end with one slash", () => {
  assert.equal(tempRoot("/p/"), "p/.tmp/");
  assert.equal(tempRoot(""), ".tmp/");
  assert.equal(withSlash("p//"), "p/");
  assert.equal(withSlash(""), "");
});

Deno.test("dayOfKey() reads the day of a key inside a date folder of the prefix", () => {
  assert.equal(dayOfKey("postgresql-18", "postgresql-18/2026/11/24/full.sql.zst"), "2026-11-24");
  assert.equal(dayOfKey("/postgresql-18/", "postgresql-18/2026/11/24/manifest.json"), "2026-11-24");
  assert.equal(dayOfKey("", "2026/01/02/full.sql.zst"), "2026-01-02");
});

Deno.test("dayOfKey() returns undefined outside a date folder or the prefix", () => {
  assert.equal(dayOfKey("postgresql-18", "other/2026/11/24/full.sql.zst"), undefined);
  assert.equal(dayOfKey("postgresql-18", "postgresql-18/.tmp/x/full.sql.zst"), undefined);
  assert.equal(dayOfKey("postgresql-18", "postgresql-18/2026/11/full.sql.zst"), undefined);
  assert.equal(dayOfKey("postgresql-18", "postgresql-18/2026/11/24"), undefined);
  assert.equal(dayOfKey("postgresql-1", "postgresql-18/2026/11/24/full.sql.zst"), undefined);
});

Deno.test("normalizePrefix() strips leading and trailing slashes only", () => {
  assert.equal(normalizePrefix("/a/b/"), "a/b");
  assert.equal(normalizePrefix("///a//"), "a");
  assert.equal(normalizePrefix("a/b"), "a/b");
  assert.equal(normalizePrefix("/"), "");
  assert.equal(normalizePrefix(""), "");
});
