/**
 * A pg_dumpall script creates every role of the source, including its bootstrap superuser.
 * When the scratch server's superuser has the same name, `CREATE ROLE` fails under
 * ON_ERROR_STOP and `ALTER ROLE ... PASSWORD` would replace the scratch password with the
 * source's. This stream drops exactly those two statements for that one role, in the script's
 * roles section (before the first `\connect`), and passes everything after it untouched.
 *
 * The role's name is read from each statement (bare, quoted, or quoted because it is a keyword
 * such as `"user"`) and compared as a name, so it matches however the dumping pg_dumpall spelled
 * it.
 *
 * @module
 */
import { readIdent } from "../pg/ident.ts";

const NL = 0x0a;

/**
 * Drops `CREATE ROLE <role>;` and `ALTER ROLE <role> WITH ...;` from a dump's roles section.
 *
 * @example
 * ```ts
 * const filter = new RoleFilterStream("postgres");
 * // "CREATE ROLE postgres;\nCREATE ROLE app;\n" → "CREATE ROLE app;\n"
 * ```
 */
export class RoleFilterStream extends TransformStream<Uint8Array, Uint8Array> {
  #dropped: string[] = [];

  /** @param role the scratch superuser's name */
  constructor(role: string) {
    const decoder = new TextDecoder();
    let passThrough = false;
    let pending = new Uint8Array(0);
    const handleLine = (
      line: Uint8Array,
      controller: TransformStreamDefaultController<Uint8Array>,
    ) => {
      const text = decoder.decode(line);
      if (text.startsWith("\\connect ")) passThrough = true;
      if (!passThrough && namesRole(text, role)) {
        this.#dropped.push(text.trimEnd().replace(/PASSWORD '[^']*'/, "PASSWORD '<redacted>'"));
        return;
      }
      controller.enqueue(line);
    };
    super({
      transform(chunk, controller) {
        if (passThrough) {
          controller.enqueue(chunk);
          return;
        }
        let data = chunk;
        if (pending.length > 0) {
          data = new Uint8Array(pending.length + chunk.length);
          data.set(pending);
          data.set(chunk, pending.length);
          pending = new Uint8Array(0);
        }
        let pos = 0;
        while (pos < data.length) {
          if (passThrough) {
            controller.enqueue(data.subarray(pos));
            return;
          }
          const nl = data.indexOf(NL, pos);
          if (nl === -1) {
            pending = data.slice(pos);
            return;
          }
          handleLine(data.subarray(pos, nl + 1), controller);
          pos = nl + 1;
        }
      },
      flush(controller) {
        if (pending.length > 0) controller.enqueue(pending);
      },
    });
  }

  /** The statements dropped (passwords redacted). */
  get dropped(): readonly string[] {
    return this.#dropped;
  }
}

/** Whether a line is `CREATE ROLE <role>;` or `ALTER ROLE <role> WITH ...` for this role. */
function namesRole(line: string, role: string): boolean {
  for (
    const [prefix, rest] of [["CREATE ROLE ", /^;\r?\n?$/], ["ALTER ROLE ", /^ WITH /]] as const
  ) {
    if (!line.startsWith(prefix)) continue;
    const ident = readIdent(line, prefix.length);
    return ident?.name === role && rest.test(line.slice(ident.end));
  }
  return false;
}
