/**
 * The lifecycle rules retention classes need, and what a bucket's rules do to each class. One
 * rule per class, filtered by the prefix and the tag `retention-class=<class>`, expires that
 * class after its days; one more, filtered by the prefix only, aborts incomplete uploads (AWS
 * and MinIO refuse that action under a tag filter; staged leftovers carry the class tag, so the
 * class rules expire them too). Pure: the check that reads, logs and sets is lifecycle.ts.
 *
 * @module
 */
import { withSlash } from "./keys.ts";
import {
  type KeepDays,
  RETENTION_CLASSES,
  RETENTION_TAG,
  type RetentionClass,
} from "./retention_class.ts";
import type { RetentionRule } from "../s3/object_store.ts";

/**
 * The id of the single rule backup-toolbox set before retention classes (`backup-toolbox-<prefix>`,
 * slashes as dashes); its class and staging rules add `-daily`, `-weekly`, `-monthly`, `-staging`.
 */
export function ruleId(prefix: string): string {
  return `backup-toolbox-${
    withSlash(prefix).replace(/\/$/, "").replace(/[^A-Za-z0-9-]/g, "-") || "all"
  }`;
}

/** Whether backup-toolbox set this rule for the prefix (the old single rule included). */
export function isOwnRule(prefix: string, id: string): boolean {
  const base = ruleId(prefix);
  return id === base || [...RETENTION_CLASSES, "staging"].some((s) => id === `${base}-${s}`);
}

/** Days an incomplete multipart upload under the prefix may stay. */
export const ABORT_INCOMPLETE_DAYS = 1;

/**
 * The rules `--apply-lifecycle` writes: one per class, then the staging rule.
 *
 * @example
 * ```ts
 * wantedRules("pg", { daily: 14, weekly: 56, monthly: 186 })[1];
 * // { id: "backup-toolbox-pg-weekly", prefix: "pg/", tags: { "retention-class": "weekly" },
 * //   expireDays: 56, abortIncompleteDays: undefined }
 * ```
 */
export function wantedRules(prefix: string, keep: KeepDays): RetentionRule[] {
  const base = ruleId(prefix);
  const under = withSlash(prefix);
  return [
    ...RETENTION_CLASSES.map((c) => ({
      id: `${base}-${c}`,
      prefix: under,
      tags: { [RETENTION_TAG]: c },
      expireDays: keep[c],
      abortIncompleteDays: undefined,
    })),
    {
      id: `${base}-staging`,
      prefix: under,
      expireDays: undefined,
      abortIncompleteDays: ABORT_INCOMPLETE_DAYS,
    },
  ];
}

/** What the bucket's rules do to one class. */
export interface ClassVerdict {
  readonly class: RetentionClass;
  /** The days it should be kept. */
  readonly want: number;
  /**
   * `ok`: the earliest expiration that applies is `want`; `conflict`: it is earlier (the class
   * would be expired too early); `missing`: none applies, or only later ones.
   */
  readonly status: "ok" | "conflict" | "missing";
  /** The earliest expiration that applies, in days; undefined when none does. */
  readonly expireDays: number | undefined;
  /** The rules with that earliest expiration. */
  readonly decidedBy: readonly RetentionRule[];
}

/** What the bucket's rules do under the prefix. */
export interface Judgement {
  readonly classes: readonly ClassVerdict[];
  /** A rule that aborts incomplete uploads under the prefix, if any. */
  readonly aborts: RetentionRule | undefined;
}

/**
 * Whether a rule applies to the objects of a class under the prefix: its prefix covers
 * `<prefix>/`, and it filters on no tag, or only on `retention-class=<class>` (the only tag
 * backup-toolbox's objects carry).
 */
export function appliesTo(rule: RetentionRule, prefix: string, c: RetentionClass): boolean {
  if (!withSlash(prefix).startsWith(rule.prefix)) return false;
  const tags = Object.entries(rule.tags ?? {});
  return tags.every(([name, value]) => name === RETENTION_TAG && value === c);
}

/**
 * Judges a bucket's enabled rules against the days each class must be kept.
 *
 * @param rules the bucket's enabled rules
 * @param keep the days per class
 */
export function judgeRules(
  rules: readonly RetentionRule[],
  prefix: string,
  keep: KeepDays,
): Judgement {
  const classes = RETENTION_CLASSES.map((c): ClassVerdict => {
    const expiring = rules.filter((r) => r.expireDays !== undefined && appliesTo(r, prefix, c));
    const earliest = expiring.length === 0
      ? undefined
      : Math.min(...expiring.map((r) => r.expireDays!));
    const want = keep[c];
    return {
      class: c,
      want,
      status: earliest === want
        ? "ok"
        : earliest !== undefined && earliest < want
        ? "conflict"
        : "missing",
      expireDays: earliest,
      decidedBy: expiring.filter((r) => r.expireDays === earliest),
    };
  });
  const aborts = rules.find((r) =>
    r.abortIncompleteDays !== undefined && withSlash(prefix).startsWith(r.prefix) &&
    Object.keys(r.tags ?? {}).length === 0
  );
  return { classes, aborts };
}
