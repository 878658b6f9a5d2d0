/**
 * Reading the deployment files for the static tests: every YAML document of a file, as plain
 * objects, with the file it came from.
 *
 * @module
 */
import YAML from "yaml";

/** Path of the repository root, resolved from this file. */
export const ROOT = new URL("../../", import.meta.url);

/** One YAML document and where it came from. */
export interface YamlDoc {
  /** Path relative to the repository root. */
  readonly file: string;
  /** Position of the document in its file, from 0. */
  readonly index: number;
  /** The parsed document. */
  readonly value: Record<string, unknown>;
}

/**
 * Reads a text file relative to the repository root.
 *
 * @param path relative path, e.g. `manifests/kustomization.yaml`
 * @returns the file's text
 */
export function readRepoFile(path: string): string {
  return Deno.readTextFileSync(new URL(path, ROOT));
}

/**
 * Parses every document of a YAML file; a syntax error or an empty document fails.
 *
 * @param path relative path from the repository root
 * @returns the documents in file order
 * @throws {SyntaxError} when the file does not parse or holds a non-mapping document
 */
export function readYamlDocs(path: string): YamlDoc[] {
  // merge: compose files share settings through `<<: *anchor` merge keys.
  const docs = YAML.parseAllDocuments(readRepoFile(path), { merge: true });
  return docs.map((doc, index) => {
    if (doc.errors.length > 0) {
      throw new SyntaxError(`Cannot parse ${path} document ${index}: ${doc.errors[0]?.message}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new SyntaxError(`Cannot read ${path} document ${index}: not a mapping`);
    }
    return { file: path, index, value: value as Record<string, unknown> };
  });
}

/**
 * Walks a parsed value by keys and array indexes; a missing step gives `undefined`.
 *
 * @param value the root value
 * @param path keys (strings) and indexes (numbers)
 * @returns the value found, or `undefined`
 */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current: unknown = value;
  for (const step of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

/**
 * Like {@link at}, but the value must be an array of objects.
 *
 * @param value the root value
 * @param path keys and indexes
 * @returns the objects, or an empty array when the path is absent
 */
export function listAt(value: unknown, ...path: (string | number)[]): Record<string, unknown>[] {
  const found = at(value, ...path);
  if (found === undefined) return [];
  if (!Array.isArray(found)) throw new TypeError(`Expected a list at ${path.join(".")}`);
  return found as Record<string, unknown>[];
}
