import assert from "node:assert/strict";
import { readDrillRecord } from "./drill_record.ts";

Deno.test("readDrillRecord() reads the verdict, the time, the backup and the older checks", () => {
  const record = readDrillRecord(JSON.stringify({
    result: "OK",
    drilled_at: "2026-11-29T06:00:00.000Z",
    backup: { key: "pg/2026/11/29/full.sql.zst" },
    older_backups: [
      { key: "pg/2026/11/20/full.sql.zst", sha256: "a".repeat(64), result: "OK" },
      { key: "pg/2026/11/21/full.sql.zst", sha256: "b".repeat(64), result: "FAILED" },
      { key: "pg/2026/11/22/full.sql.zst", result: "OK" },
    ],
  }));
  assert.deepEqual(record, {
    result: "OK",
    drilledAt: new Date("2026-11-29T06:00:00.000Z"),
    key: "pg/2026/11/29/full.sql.zst",
    olderBackups: [
      { key: "pg/2026/11/20/full.sql.zst", sha256: "a".repeat(64), result: "OK" },
      { key: "pg/2026/11/21/full.sql.zst", sha256: "b".repeat(64), result: "FAILED" },
    ],
  });
});

Deno.test("readDrillRecord() gives no verdict for text that is not a report, and never throws", () => {
  for (const text of ["x", "{}", "null", '{"result":"ok"}', '{"drilled_at":"yesterday"}']) {
    const record = readDrillRecord(text);
    assert.equal(record.result, undefined, text);
    assert.equal(record.drilledAt, undefined, text);
    assert.deepEqual(record.olderBackups, []);
  }
  assert.equal(readDrillRecord('{"result":"FAILED"}').result, "FAILED");
});
