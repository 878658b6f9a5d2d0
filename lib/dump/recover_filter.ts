/**
 * The recovery's view of a `pg_dumpall` script: a stream that lets through only what a recovery
 * of chosen databases may send to a live cluster, and renames those databases on the way.
 *
 * The script is cut into top-level units where {@linkcode DumpParser} (which follows psql's
 * lexical state) says they end: statements, backslash commands, COPY data. Each unit belongs to
 * a section:
 *
 * - the **globals** (roles, memberships, tablespaces, parameter grants), before the first
 *   database. Only the roles this recovery creates pass (`CREATE ROLE`, `ALTER ROLE … WITH`,
 *   `ALTER ROLE … SET`, their comments and labels), and a membership only when its member is a
 *   role this recovery creates and its role is on the target (or created): a role the target
 *   already has is never altered, and no existing role gains a membership. Tablespaces,
 *   parameter grants and anything else cluster-wide never pass (they are counted in
 *   {@linkcode RecoveryFilter.skipped}).
 * - one section per **database**, from the statements pg_dump writes before its `CREATE DATABASE`
 *   (comments, `\restrict`, `SET`s) through its content, up to where the next one begins. A
 *   section switches at `CREATE DATABASE name` and at `\connect name`; session units (`SET`,
 *   `set_config`, comments, `\restrict`, `\encoding`) wait and go with the section that follows
 *   them, and `\unrestrict` closes the current one, so `\restrict`/`\unrestrict` stay paired in
 *   what psql reads. A chosen section passes whole; every other one is read (for the sha256 and
 *   the counts) and dropped.
 *
 * In a chosen section that is renamed, every statement that names the database is rewritten:
 * `CREATE DATABASE`, `ALTER DATABASE` (owner, settings, connection limit, template flag),
 * `COMMENT ON DATABASE`, `SECURITY LABEL … ON DATABASE`, `GRANT`/`REVOKE … ON DATABASE`,
 * `ALTER ROLE … IN DATABASE … SET`, and `\connect` (in the form pg_dump writes for the new name).
 * A statement of a chosen section that names another database, or that changes something
 * cluster-wide (a role, a tablespace, the system), stops the stream with a
 * {@linkcode RecoveryDumpError}: pg_dump never writes one, so the dump is not what it seems.
 *
 * The same filter, without output, is the recovery's first pass: it learns the backup's
 * databases and roles and which roles the chosen databases name (every identifier of their DDL
 * that is one of the backup's roles), before anything reaches the target.
 *
 * @module
 */
import { type DumpCounts, DumpParser, type DumpValues, type UnitKind } from "./parser.ts";
import { Buffer } from "node:buffer";
import { quoteIdent } from "../pg/ident.ts";
import {
  classify,
  clusterWide,
  connectLine,
  databaseNames,
  firstWords,
  identifiers,
  RecoveryDumpError,
  roleStatement,
  SESSION,
  skipTrivia,
  SWITCH,
  UNRESTRICT,
} from "./recover_statements.ts";

export { RecoveryDumpError };

/** What the filter is told. */
export interface RecoveryFilterOptions {
  /** The chosen databases: name in the dump → name on the target (the same when not renamed). */
  readonly databases: ReadonlyMap<string, string>;
  /**
   * The roles to create on the target (the restore pass). Undefined for the first pass, which
   * writes nothing out and only learns.
   */
  readonly createRoles?: ReadonlySet<string>;
  /** The roles the target has (a membership's `GRANTED BY` must name one of them or a created one). */
  readonly targetRoles?: ReadonlySet<string>;
  /** Take value digests of the chosen databases' data, as the drill does. @default false */
  readonly digests?: boolean;
}

/** Above this, a unit of a dropped section is dropped without being kept whole. */
const HEAD_LIMIT = 1024 * 1024;
/** The longest single statement a chosen section or the globals may hold. */
const UNIT_LIMIT = 256 * 1024 * 1024;

interface Section {
  /** The database's name in the dump. */
  readonly name: string;
  /** Its name on the target, or undefined when it is not chosen. */
  readonly target: string | undefined;
  /** Whether its `CREATE DATABASE` was seen. */
  created: boolean;
}

interface Unit {
  readonly bytes: Uint8Array;
  /** The unit's text; decoded as Latin-1 when it is not UTF-8 (then `opaque`). */
  readonly text: string;
  readonly opaque: boolean;
  /** Where its first significant character is (after comments and blank lines). */
  readonly start: number;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/**
 * The filter as a push parser: {@linkcode push} chunks, then {@linkcode end}; what may reach the
 * target is handed to `emit`.
 */
export class RecoveryFilter {
  readonly #options: RecoveryFilterOptions;
  readonly #output: boolean;
  readonly #parser: DumpParser;
  #emit: (bytes: Uint8Array) => void = () => {};
  #chunk: Uint8Array = new Uint8Array(0);
  #from = 0;
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  #overflow = false;
  /** The unit just routed was `\encoding …`. */
  #afterEncoding = false;
  /** Inside COPY data: whether it passes; undefined outside data. */
  #data: boolean | undefined;
  #pending: Uint8Array[] = [];
  #section: Section | undefined;
  #sent = 0;
  readonly #databases: string[] = [];
  readonly #backupRoles = new Set<string>();
  readonly #neededRoles = new Set<string>();
  readonly #createdRoles: string[] = [];
  readonly #skippedMemberships: string[] = [];
  readonly #skipped: Record<string, number> = {};

  constructor(options: RecoveryFilterOptions) {
    this.#options = options;
    this.#output = options.createRoles !== undefined;
    this.#parser = new DumpParser({
      digests: options.digests ?? false,
      digestsFor: (db) => options.databases.has(db),
      onUnitEnd: (end, kind) => {
        this.#take(this.#chunk.subarray(this.#from, end));
        this.#from = end;
        this.#endUnit(kind);
      },
    });
  }

  /** Feeds the next chunk; what passes goes to `emit` (nothing in the first pass). */
  push(chunk: Uint8Array, emit: (bytes: Uint8Array) => void): void {
    this.#emit = emit;
    this.#chunk = chunk;
    this.#from = 0;
    this.#parser.push(chunk);
    this.#take(chunk.subarray(this.#from));
    this.#chunk = new Uint8Array(0);
  }

  /** Ends the script: the last unit and any waiting session units go to the current section. */
  end(emit: (bytes: Uint8Array) => void): void {
    this.#emit = emit;
    this.#parser.end();
    if (this.#data === undefined && (this.#partsLength > 0 || this.#overflow)) {
      this.#endUnit("statement");
    }
    this.#data = undefined;
    this.#flushPending();
  }

  /** The backup's databases, in the order the dump holds them. */
  get databases(): readonly string[] {
    return this.#databases;
  }

  /** The roles the backup's globals create. */
  get backupRoles(): ReadonlySet<string> {
    return this.#backupRoles;
  }

  /** The backup's roles that the chosen databases' statements name. */
  get neededRoles(): ReadonlySet<string> {
    return this.#neededRoles;
  }

  /** Roles whose `CREATE ROLE` passed, in the dump's order. */
  get createdRoles(): readonly string[] {
    return this.#createdRoles;
  }

  /** Memberships not restored (`role → member`): the member exists, or the role is not there. */
  get skippedMemberships(): readonly string[] {
    return this.#skippedMemberships;
  }

  /** Cluster-wide statements of the globals that never pass, by their first words. */
  get skipped(): Readonly<Record<string, number>> {
    return this.#skipped;
  }

  /** Bytes handed on (what psql reads). */
  get sentBytes(): number {
    return this.#sent;
  }

  /** Bytes of the script read. */
  get bytes(): number {
    return this.#parser.bytes;
  }

  /** Rows per table of every database in the dump. */
  counts(): DumpCounts {
    return this.#parser.counts();
  }

  /** Value digests of the chosen databases, under their names in the dump. */
  values(): DumpValues {
    const all = this.#parser.values();
    const out: DumpValues = {};
    for (const name of this.#options.databases.keys()) {
      const v = all[name];
      if (v !== undefined) out[name] = v;
    }
    return out;
  }

  #take(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#data !== undefined) {
      if (this.#data) this.#send(bytes);
      return;
    }
    if (this.#overflow) return;
    this.#parts.push(bytes);
    this.#partsLength += bytes.length;
    if (this.#partsLength > HEAD_LIMIT && this.#section !== undefined && !this.#section.target) {
      // A long statement of a dropped section: it cannot switch sections, so drop it as it comes.
      this.#overflow = true;
      this.#parts = [];
      this.#partsLength = 0;
    } else if (this.#partsLength > UNIT_LIMIT) {
      throw new RecoveryDumpError(
        `recovery stopped: a statement of the dump is longer than ${UNIT_LIMIT >> 20} MiB`,
        'restore the whole cluster into a new server instead (RUNBOOK.md "The whole cluster into a new server")',
      );
    }
  }

  #endUnit(kind: UnitKind): void {
    if (kind === "data") {
      this.#data = undefined;
      return;
    }
    if (this.#overflow) {
      this.#overflow = false;
      if (kind === "copy") this.#data = false;
      return;
    }
    const unit = this.#unit();
    const passes = this.#route(unit);
    if (kind === "copy") this.#data = passes;
  }

  #unit(): Unit {
    const bytes = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts = [];
    this.#partsLength = 0;
    let text: string;
    let opaque = false;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = latin1.decode(bytes);
      opaque = true;
    }
    return { bytes, text, opaque, start: skipTrivia(text, 0) };
  }

  /** Sends a unit where it belongs; returns whether it passed (for the COPY data after it). */
  #route(unit: Unit): boolean {
    const sig = unit.text.slice(unit.start);
    const [kind, name] = classify(sig);
    const encoding = sig.startsWith("\\encoding ");
    const afterEncoding = this.#afterEncoding;
    this.#afterEncoding = encoding;
    if (kind === SESSION) {
      this.#pending.push(unit.bytes);
      return false;
    }
    if (kind === SWITCH) return this.#switch(unit, sig, name!, afterEncoding);
    this.#flushPending();
    const section = this.#section;
    if (kind === UNRESTRICT) {
      if (section !== undefined && section.target === undefined) return false;
      this.#send(unit.bytes);
      return true;
    }
    if (section === undefined) return this.#global(unit, sig);
    if (section.target === undefined) return false;
    this.#chosen(unit, sig, section);
    return true;
  }

  #switch(unit: Unit, sig: string, name: string, afterEncoding: boolean): boolean {
    const isCreate = /^create/i.test(sig);
    let section = this.#section;
    if (isCreate || section?.name !== name) {
      section = { name, target: this.#options.databases.get(name), created: isCreate };
      this.#section = section;
      if (!this.#databases.includes(name)) this.#databases.push(name);
    }
    this.#flushPending();
    const target = section.target;
    if (target === undefined) return false;
    if (isCreate) {
      this.#chosen(unit, sig, section);
      return true;
    }
    let create = "";
    if (!section.created && target !== name) {
      // postgres and template1 are not created by the dump: a renamed copy needs its own.
      if (name === "template1" || name === "template0") {
        throw new RecoveryDumpError(
          `recovery stopped: template database ${name} cannot be recovered`,
          "choose application databases in RESTORE_DATABASES",
        );
      }
      section.created = true;
      create = `CREATE DATABASE ${quoteIdent(target)} WITH TEMPLATE = template0;\n`;
    }
    if (target === name) {
      this.#send(unit.bytes);
      return true;
    }
    // pg_dump's own `\encoding SQL_ASCII` line may already precede a `\connect`.
    const line = connectLine(target).replace(afterEncoding ? /^\\encoding .*\n/ : /^$/, "");
    this.#send(encoder.encode(unit.text.slice(0, unit.start) + create + line));
    return true;
  }

  /** A statement of a chosen section: renamed where it names the database, roles noted. */
  #chosen(unit: Unit, sig: string, section: Section): void {
    const target = section.target!;
    const named = databaseNames(sig);
    if (named !== undefined) {
      const other = named.names.find((n) => n.name !== section.name);
      if (other !== undefined) {
        throw new RecoveryDumpError(
          `recovery stopped: the dump's section of database ${section.name} names database ${other.name} in: ${
            firstWords(sig)
          }`,
          "the dump is not what pg_dumpall writes; restore the whole cluster into a new server instead",
        );
      }
      if (unit.opaque && target !== section.name) {
        throw new RecoveryDumpError(
          `recovery stopped: cannot rename database ${section.name}: its statements are not UTF-8`,
          "recover it under its own name into a new server, or restore the whole cluster there",
        );
      }
    } else {
      const wide = clusterWide(sig);
      if (wide !== undefined) {
        throw new RecoveryDumpError(
          `recovery stopped: the dump's section of database ${section.name} changes something cluster-wide: ${wide}`,
          "the dump is not what pg_dumpall writes; restore the whole cluster into a new server instead",
        );
      }
    }
    if (!unit.opaque) this.#noteRoles(sig);
    if (named === undefined || target === section.name) {
      this.#send(unit.bytes);
      return;
    }
    let text = sig;
    for (const n of [...named.names].reverse()) {
      text = text.slice(0, n.start) + quoteIdent(target) + text.slice(n.end);
    }
    this.#send(encoder.encode(unit.text.slice(0, unit.start) + text));
  }

  /** A statement of the globals: roles and memberships as the class comment says. */
  #global(unit: Unit, sig: string): boolean {
    const create = this.#options.createRoles ?? new Set<string>();
    const target = this.#options.targetRoles ?? new Set<string>();
    const role = roleStatement(sig);
    if (role?.kind === "create") this.#backupRoles.add(role.role);
    if (role?.kind === "in-database") {
      const db = this.#options.databases.get(role.database.name);
      if (db === undefined) return false;
      this.#neededRoles.add(role.role);
      const rewritten = sig.slice(0, role.database.start) + quoteIdent(db) +
        sig.slice(role.database.end);
      this.#send(encoder.encode(unit.text.slice(0, unit.start) + rewritten));
      return true;
    }
    if (role !== undefined && role.kind !== "membership") {
      if (!create.has(role.role)) return false;
      if (role.kind === "create") this.#createdRoles.push(role.role);
      this.#send(unit.bytes);
      return true;
    }
    if (role?.kind === "membership") {
      const present = (r: string) => create.has(r) || target.has(r);
      if (!create.has(role.member) || !present(role.role)) {
        this.#skippedMemberships.push(`${role.role} → ${role.member}`);
        return false;
      }
      let text = sig;
      if (role.grantor !== undefined && !present(role.grantor.name)) {
        // The grantor is not on the target: the restoring superuser grants it instead.
        text = text.slice(0, role.grantor.clauseStart) + text.slice(role.grantor.end);
      }
      this.#send(encoder.encode(unit.text.slice(0, unit.start) + text));
      return true;
    }
    const words = firstWords(sig);
    this.#skipped[words] = (this.#skipped[words] ?? 0) + 1;
    return false;
  }

  #noteRoles(sig: string): void {
    if (this.#backupRoles.size === 0) return;
    for (const name of identifiers(sig)) {
      if (this.#backupRoles.has(name)) this.#neededRoles.add(name);
    }
  }

  #flushPending(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const section = this.#section;
    if (section !== undefined && section.target === undefined) return;
    for (const bytes of pending) this.#send(bytes);
  }

  #send(bytes: Uint8Array): void {
    if (!this.#output) return;
    this.#sent += bytes.length;
    this.#emit(bytes);
  }
}

/**
 * {@linkcode RecoveryFilter} as a TransformStream.
 *
 * @example
 * ```ts
 * const filter = new RecoveryFilterStream({
 *   databases: new Map([["app", "app_restored"]]),
 *   createRoles: new Set(),
 *   targetRoles: new Set(["postgres"]),
 * });
 * // zstd -d's stdout.pipeThrough(filter).pipeTo(psql's stdin)
 * ```
 */
export class RecoveryFilterStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The filter, for what it learned once the stream has ended. */
  readonly filter: RecoveryFilter;

  constructor(options: RecoveryFilterOptions) {
    const filter = new RecoveryFilter(options);
    super({
      transform: (chunk, controller) => filter.push(chunk, (b) => controller.enqueue(b)),
      flush: (controller) => filter.end((b) => controller.enqueue(b)),
    });
    this.filter = filter;
  }
}
