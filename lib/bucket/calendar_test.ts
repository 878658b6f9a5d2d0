import assert from "node:assert/strict";
import { addDays, dayIn, daysBetween, isoWeek, mondayOf, monthOf } from "./calendar.ts";

Deno.test("dayIn() takes the calendar day in the time zone, as the backup folders do", () => {
  const instant = new Date("2026-12-01T01:00:00Z");
  assert.equal(dayIn(instant, "UTC"), "2026-12-01");
  assert.equal(dayIn(instant, "America/Sao_Paulo"), "2026-11-30");
  assert.equal(dayIn(new Date("2026-12-31T20:00:00Z"), "Asia/Tokyo"), "2027-01-01");
});

Deno.test("addDays() and daysBetween() cross month, year and leap-day boundaries", () => {
  assert.equal(addDays("2026-03-01", -1), "2026-02-28");
  assert.equal(addDays("2028-03-01", -1), "2028-02-29");
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
  assert.equal(addDays("2026-06-20", -14), "2026-06-06");
  assert.equal(daysBetween("2026-12-28", "2027-01-03"), 6);
  assert.equal(daysBetween("2027-01-03", "2026-12-28"), -6);
  assert.throws(() => addDays("2026-02-30", 1), RangeError);
  assert.throws(() => monthOf("2026/11/30"), RangeError);
});

Deno.test("isoWeek() spans months and years as ISO 8601 says: the week's Thursday picks the year", () => {
  for (const day of ["2026-12-28", "2026-12-31", "2027-01-01", "2027-01-03"]) {
    assert.equal(isoWeek(day), "2026-W53", day);
    assert.equal(mondayOf(day), "2026-12-28", day);
  }
  assert.equal(isoWeek("2027-01-04"), "2027-W01");
  assert.equal(isoWeek("2024-12-30"), "2025-W01");
  assert.equal(isoWeek("2021-01-03"), "2020-W53");
  assert.equal(isoWeek("2026-06-29"), "2026-W27");
  assert.equal(isoWeek("2026-07-05"), "2026-W27");
  assert.equal(mondayOf("2026-07-01"), "2026-06-29");
});
