/**
 * The recovery's target server: what it holds before the recovery (every database, every
 * role), and taking back what a failed recovery created. All SQL names go through
 * {@linkcode quoteIdent}.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { reasonOf } from "../errors.ts";
import { withDatabase } from "../pg/client.ts";
import { quoteIdent } from "../pg/ident.ts";
import type { PgConnection } from "../pg/tools.ts";

/** What the target holds. */
export interface TargetState {
  /** Every database, templates and ones that refuse connections included. */
  readonly databases: ReadonlySet<string>;
  /** Every role. */
  readonly roles: ReadonlySet<string>;
  /** `server_version`, e.g. `18.4`. */
  readonly serverVersion: string;
}

/** Reads the target's databases, roles and version. */
export async function inspectTarget(conn: PgConnection): Promise<TargetState> {
  return await withDatabase(conn, "postgres", async (sql) => {
    const dbs = await sql<{ name: string }[]>`SELECT datname AS name FROM pg_database`;
    const roles = await sql<{ name: string }[]>`SELECT rolname AS name FROM pg_roles`;
    const [v] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
    return {
      databases: new Set(dbs.map((r) => r.name)),
      roles: new Set(roles.map((r) => r.name)),
      serverVersion: v?.v ?? "",
    };
  });
}

/** What a failed recovery leaves behind. */
export interface Leftovers {
  readonly databases: readonly string[];
  readonly roles: readonly string[];
}

/** The outcome of {@linkcode undoRecovery}. */
export interface UndoResult {
  /** What it dropped. */
  readonly dropped: Leftovers;
  /** What is still there (it could not be dropped). */
  readonly left: Leftovers;
  /** Why the rest could not be dropped, when something is left. */
  readonly reason?: string;
}

/**
 * Drops the databases and roles a failed recovery created, waiting up to `waitSeconds` for the
 * server to take connections. Only names absent before the recovery are given; one that does not
 * exist now is skipped.
 *
 * @param conn the target
 * @param created what the recovery may have created
 * @param waitSeconds how long to keep trying to connect
 * @returns what it dropped and what is left
 */
export async function undoRecovery(
  conn: PgConnection,
  created: Leftovers,
  waitSeconds: number,
): Promise<UndoResult> {
  const deadline = performance.now() + waitSeconds * 1000;
  const dropped = { databases: [] as string[], roles: [] as string[] };
  let reason: string | undefined;
  for (;;) {
    try {
      await withDatabase(conn, "postgres", async (sql) => {
        for (const db of created.databases) {
          if (dropped.databases.includes(db)) continue;
          const [row] = await sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_database WHERE datname = ${db}`;
          if ((row?.n ?? 0) > 0) {
            await sql.unsafe(`DROP DATABASE ${quoteIdent(db)} WITH (FORCE)`);
          }
          dropped.databases.push(db);
        }
        for (const role of created.roles) {
          if (dropped.roles.includes(role)) continue;
          const [row] = await sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${role}`;
          if ((row?.n ?? 0) > 0) await sql.unsafe(`DROP ROLE ${quoteIdent(role)}`);
          dropped.roles.push(role);
        }
      }, 5);
      reason = undefined;
      break;
    } catch (err) {
      reason = reasonOf(err);
      // A server that refuses to drop (a role that owns something elsewhere) will not change
      // its mind; a server that is down or restarting may come back.
      if (!isConnectionFailure(err) || performance.now() >= deadline) break;
      await sleep(1000);
    }
  }
  const left = {
    databases: created.databases.filter((d) => !dropped.databases.includes(d)),
    roles: created.roles.filter((r) => !dropped.roles.includes(r)),
  };
  return {
    dropped,
    left,
    ...(left.databases.length + left.roles.length > 0 && reason ? { reason } : {}),
  };
}

/** The SQL that drops what is left, for the operator's hint. */
export function cleanupSql(left: Leftovers): string {
  return [
    ...left.databases.map((d) => `DROP DATABASE ${quoteIdent(d)} WITH (FORCE);`),
    ...left.roles.map((r) => `DROP ROLE ${quoteIdent(r)};`),
  ].join(" ");
}

function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    // Connection-level errors from the client, and the server's own shutdown/startup states.
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|CONNECT_TIMEOUT|CONNECTION_)/.test(code)) {
      return true;
    }
    if (code === "57P01" || code === "57P02" || code === "57P03" || code.startsWith("08")) {
      return true;
    }
  }
  return /connect|terminat|shut ?down|starting up/i.test(reasonOf(err));
}
