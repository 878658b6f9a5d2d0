/**
 * Bounded concurrency: run an async function over a list with at most `limit` calls in flight,
 * results in the list's order. Reading every manifest of a bucket should not open hundreds of
 * requests at once.
 *
 * @module
 */

/**
 * Maps `items` through `fn`, at most `limit` at a time. The first rejection rejects the whole
 * (calls already started finish; no new one starts).
 *
 * @param limit calls in flight at most, 1 or more
 * @returns the results, in the order of `items`
 * @example
 * ```ts
 * const texts = await mapLimited(keys, 8, (key) => store.getText(key));
 * ```
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
