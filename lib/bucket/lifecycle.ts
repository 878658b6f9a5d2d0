/**
 * The daily lifecycle check: the bucket's rules must expire each retention class under
 * `<prefix>/` after its own days (no sooner: a plain 14-day prefix rule would expire the
 * monthlies) and abort incomplete uploads. Each problem is one warn line naming the rule and the
 * fix; `--apply-lifecycle` writes backup-toolbox's rules (one per class, and the staging rule),
 * replacing its own older single rule and never touching a rule it does not own. A key that may
 * not read or set the rules gets a warn line, never a failed backup.
 *
 * @module
 */
import { withSlash } from "./keys.ts";
import {
  type ClassVerdict,
  isOwnRule,
  type Judgement,
  judgeRules,
  ruleId,
  wantedRules,
} from "./lifecycle_rules.ts";
import { type KeepDays, RETENTION_CLASSES, RETENTION_TAG } from "./retention_class.ts";
import type { Log } from "../log.ts";
import type { ObjectStore, RetentionRule } from "../s3/object_store.ts";
import { isDenied } from "../s3/failure.ts";
import { reasonOf, ToolboxError } from "../errors.ts";

/** How the check ended. */
export type LifecycleOutcome = "ok" | "applied" | "missing" | "conflict" | "unknown";

/**
 * Checks the bucket's lifecycle rules against the days each class is kept, warns for each
 * problem, and with `apply` sets backup-toolbox's rules when anything is wrong.
 *
 * @param keep days per class (keepDays() of RETENTION_DAYS, KEEP_WEEKLY, KEEP_MONTHLY)
 * @returns `ok`; `applied` (the rules were set and nothing is wrong any more); `conflict` (a
 *   rule expires a class too early); `missing` (a class or the abort has no rule, also when
 *   setting them was refused); `unknown` (the server refused to say)
 */
export async function checkLifecycle(
  store: ObjectStore,
  prefix: string,
  keep: KeepDays,
  apply: boolean,
  log: Log,
): Promise<LifecycleOutcome> {
  const under = withSlash(prefix);
  let rules: RetentionRule[];
  try {
    rules = await store.getRetentionRules();
  } catch (err) {
    log.warn("lifecycle", "cannot read the bucket's lifecycle rules", {
      error: err instanceof Error ? err.message : String(err),
      hint: isDenied(err)
        ? `grant s3:GetLifecycleConfiguration on arn:aws:s3:::${store.bucket} (manifests/s3-policies/postgres-backup.json), or run with PRUNE=true to delete old backups`
        : "check the S3 server's support for lifecycle rules, or run with PRUNE=true to delete old backups",
    });
    return "unknown";
  }
  const judged = judgeRules(rules, prefix, keep);
  if (isSound(judged)) {
    log.info("lifecycle", "lifecycle rule OK", okFields(judged));
    return "ok";
  }
  if (!apply) return warnProblems(judged, rules, store, prefix, log);

  const wanted = wantedRules(prefix, keep);
  const old = rules.find((r) => r.id === ruleId(prefix));
  try {
    await store.putRetentionRules(wanted, [ruleId(prefix)]);
  } catch (err) {
    log.warn("lifecycle", "cannot set the lifecycle rule", {
      rules: wanted.map((r) => r.id),
      prefix: under,
      keep_days: byClass(keep),
      error: reasonOf(err),
      hint: isDenied(err)
        ? `--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::${store.bucket}: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (${
          mcCommands(under, keep, store.bucket)
        })`
        : err instanceof ToolboxError
        ? err.hint
        : "run the backup again",
    });
    return "missing";
  }
  log.info("lifecycle", "lifecycle rule set", {
    rules: wanted.map((r) => ({
      id: r.id,
      prefix: r.prefix,
      ...(r.tags ? { tag: tagText(r.tags) } : {}),
      ...(r.expireDays !== undefined ? { expire_days: r.expireDays } : {}),
      ...(r.abortIncompleteDays !== undefined
        ? { abort_incomplete_days: r.abortIncompleteDays }
        : {}),
    })),
    ...(old
      ? {
        removed: old.id,
        note:
          `objects written before retention classes carry no ${RETENTION_TAG} tag, so no rule expires them now: run --prune-only (PRUNE counts them as daily) once they are older than ${keep.daily} days`,
      }
      : {}),
  });
  // Rules backup-toolbox does not own stay as they were: say what they still do wrong.
  const kept = rules.filter((r) => !isOwnRule(prefix, r.id));
  const after = judgeRules([...kept, ...wanted], prefix, keep);
  if (isSound(after)) return "applied";
  return warnProblems(after, kept, store, prefix, log);
}

function isSound(judged: Judgement): boolean {
  return judged.aborts !== undefined && judged.classes.every((v) => v.status === "ok");
}

/** `lifecycle rule OK`: the one rule that decides every class, or each class's own. */
function okFields(judged: Judgement): Record<string, unknown> {
  const ids = new Set(judged.classes.map((v) => v.decidedBy[0]!.id));
  const [first] = judged.classes;
  if (ids.size === 1 && judged.classes.every((v) => v.want === first!.want)) {
    return { rule: first!.decidedBy[0]!.id, expire_days: first!.want };
  }
  return {
    rules: Object.fromEntries(
      judged.classes.map((v) => [v.class, { rule: v.decidedBy[0]!.id, expire_days: v.want }]),
    ),
  };
}

/** One warn line per problem; returns `conflict` when a rule expires a class too early. */
function warnProblems(
  judged: Judgement,
  rules: readonly RetentionRule[],
  store: ObjectStore,
  prefix: string,
  log: Log,
): LifecycleOutcome {
  const under = withSlash(prefix);
  const listed = rules.map((r) => ({
    id: r.id,
    prefix: r.prefix,
    ...(r.tags && Object.keys(r.tags).length > 0 ? { tag: tagText(r.tags) } : {}),
    expire_days: r.expireDays,
  }));
  const apply = "run once with --apply-lifecycle (S3_APPLY_LIFECYCLE=true)";

  // A rule that expires classes too early: one line per rule, naming the classes.
  const conflicts = new Map<string, { rule: RetentionRule; classes: ClassVerdict[] }>();
  for (const v of judged.classes.filter((v) => v.status === "conflict")) {
    for (const rule of v.decidedBy) {
      const entry = conflicts.get(rule.id) ?? { rule, classes: [] };
      entry.classes.push(v);
      conflicts.set(rule.id, entry);
    }
  }
  for (const { rule, classes } of conflicts.values()) {
    const own = isOwnRule(prefix, rule.id);
    log.warn(
      "lifecycle",
      `lifecycle rule ${rule.id} expires ${under} after ${rule.expireDays} days: too early for the ${
        listClasses(classes)
      } backups`,
      {
        rule: rule.id,
        expire_days: rule.expireDays,
        keep_days: Object.fromEntries(classes.map((v) => [v.class, v.want])),
        hint: own
          ? `${apply}: it replaces backup-toolbox's rules with one per retention class`
          : `rule ${rule.id} is not backup-toolbox's: remove it or narrow it to other objects as the MinIO admin (mc ilm rule rm --id ${rule.id} backup/${store.bucket}), then ${apply}`,
      },
    );
  }

  // Classes no rule expires (or only later): one line, as before retention classes, when every
  // class is missing with the same days (a plain prefix rule would do); otherwise one per class.
  const missing = judged.classes.filter((v) => v.status === "missing");
  const uniform = missing.length === RETENTION_CLASSES.length &&
    missing.every((v) => v.want === missing[0]!.want);
  if (uniform) {
    const days = missing[0]!.want;
    log.warn("lifecycle", `no lifecycle rule expires ${under} after ${days} days`, {
      rules: listed,
      hint:
        `${apply}, or mc ilm rule add --expire-days ${days} --prefix ${under} backup/${store.bucket}, or set PRUNE=true`,
    });
  } else {
    for (const v of missing) {
      log.warn(
        "lifecycle",
        `no lifecycle rule expires ${RETENTION_TAG}=${v.class} backups under ${under} after ${v.want} days`,
        {
          retention_class: v.class,
          expire_days: v.want,
          rule: `${ruleId(prefix)}-${v.class}`,
          rules: listed,
          hint:
            `${apply}, or mc ilm rule add --expire-days ${v.want} --prefix ${under} --tags "${RETENTION_TAG}=${v.class}" backup/${store.bucket}, or set PRUNE=true`,
        },
      );
    }
  }

  // Nothing at all for the prefix is one line, as before retention classes: --apply-lifecycle
  // sets the abort too.
  if (judged.aborts === undefined && !uniform) {
    log.warn("lifecycle", `no lifecycle rule aborts incomplete uploads under ${under}`, {
      rule: `${ruleId(prefix)}-staging`,
      rules: listed,
      hint:
        `${apply}; meanwhile each backup removes uploads older than STALE_UPLOAD_HOURS under ${under}`,
    });
  }
  return conflicts.size > 0 ? "conflict" : "missing";
}

/** `weekly (56 days) and monthly (186 days)` */
function listClasses(classes: readonly ClassVerdict[]): string {
  const words = classes.map((v) => `${v.class} (${v.want} days)`);
  return words.length <= 1
    ? words.join("")
    : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

function byClass(keep: KeepDays): Record<string, number> {
  return Object.fromEntries(RETENTION_CLASSES.map((c) => [c, keep[c]]));
}

function tagText(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags).map(([k, v]) => `${k}=${v}`).join("&");
}

/**
 * The `mc ilm rule add` commands that set the rules by hand: one plain prefix rule when every
 * class is kept as long, otherwise one per class.
 */
function mcCommands(under: string, keep: KeepDays, bucket: string): string {
  const days = RETENTION_CLASSES.map((c) => keep[c]);
  if (days.every((d) => d === days[0])) {
    return `mc ilm rule add --expire-days ${days[0]} --prefix ${under} backup/${bucket}`;
  }
  return RETENTION_CLASSES.map((c) =>
    `mc ilm rule add --expire-days ${
      keep[c]
    } --prefix ${under} --tags "${RETENTION_TAG}=${c}" backup/${bucket}`
  ).join("; ");
}
