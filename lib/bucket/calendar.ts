/**
 * Calendar days as `YYYY-MM-DD` text, the way backup folders name them: the day of an instant
 * in a time zone, day arithmetic, months and ISO 8601 weeks. Days are calendar dates, not
 * instants: their arithmetic is done at noon UTC, where no time zone rule can move a date.
 *
 * @module
 */
import { datePath } from "./keys.ts";

const DAY_MS = 86_400_000;

/**
 * The calendar day of an instant in a time zone.
 *
 * @example
 * ```ts
 * dayIn(new Date("2026-12-01T01:00:00Z"), "America/Sao_Paulo"); // "2026-11-30"
 * ```
 */
export function dayIn(instant: Date, timeZone: string): string {
  return datePath(instant, timeZone).replaceAll("/", "-");
}

/** Noon UTC of a day, for arithmetic. @throws {RangeError} for text that is not YYYY-MM-DD */
function noonOf(day: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const date = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12)) : null;
  if (!date || date.toISOString().slice(0, 10) !== day) {
    throw new RangeError(`Cannot read day "${day}": expected a date such as 2026-11-30`);
  }
  return date;
}

/**
 * The day `n` days after `day` (before, for a negative `n`).
 *
 * @example
 * ```ts
 * addDays("2026-03-01", -1); // "2026-02-28"
 * ```
 */
export function addDays(day: string, n: number): string {
  return new Date(noonOf(day).getTime() + n * DAY_MS).toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((noonOf(to).getTime() - noonOf(from).getTime()) / DAY_MS);
}

/** The month of a day: `2026-11-30` → `2026-11`. */
export function monthOf(day: string): string {
  noonOf(day);
  return day.slice(0, 7);
}

/** The Monday that begins the ISO week of a day (weeks run Monday to Sunday). */
export function mondayOf(day: string): string {
  const weekday = (noonOf(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return addDays(day, -weekday);
}

/**
 * The ISO 8601 week of a day, `YYYY-Www`: the year is the one its Thursday falls in, so a week
 * may span two months or two years.
 *
 * @example
 * ```ts
 * isoWeek("2027-01-03"); // "2026-W53" (the week of 2026-12-28 to 2027-01-03)
 * isoWeek("2024-12-30"); // "2025-W01"
 * ```
 */
export function isoWeek(day: string): string {
  const thursday = addDays(mondayOf(day), 3);
  const year = thursday.slice(0, 4);
  const week = Math.floor(daysBetween(`${year}-01-01`, thursday) / 7) + 1;
  return `${year}-W${String(week).padStart(2, "0")}`;
}
