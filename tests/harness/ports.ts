/**
 * Free loopback TCP ports for servers the harness starts.
 *
 * @module
 */

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it for a listener
 * that is closed at once. Another process may take it before the caller binds it, so
 * servers that fail to bind should be started again with a new port.
 *
 * @returns A port number between 1024 and 65535.
 * @example
 * ```ts
 * const port = freePort();
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}
