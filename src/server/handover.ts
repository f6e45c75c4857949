import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { parseListenAddress } from './listen.ts';

/**
 * A successor's sockets, seen from the kernel's socket tables. With `SO_REUSEPORT` a successor (the new
 * pod of a DaemonSet rollout, the replacement of a deleted pod, a second `portico` on the host) binds
 * the same ports beside us; only once it does may we stop accepting without refusing connections.
 * /proc/net/tcp{,6} list the sockets of this network namespace (with hostNetwork, the node's), whoever
 * owns them, so "more listeners on the port than ours" means a successor is there.
 */
const SOCKET_TABLES: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6'];
/** The `st` column of a listening socket (TCP_LISTEN). */
const LISTEN_STATE = '0A';

/** Sockets listening on `port` in this network namespace; undefined where no table can be read. */
export async function listeningSocketsOn(
  port: number,
  tables: readonly string[] = SOCKET_TABLES,
): Promise<number | undefined> {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  let read = false;
  for (const table of tables) {
    let text: string;
    try {
      text = await readFile(table, 'latin1');
    } catch {
      continue; // no IPv6, or not Linux
    }
    read = true;
    // "  sl  local_address rem_address   st ...": e.g. "0: 00000000:0050 00000000:0000 0A ..."
    for (const line of text.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === LISTEN_STATE && fields[1]?.endsWith(suffix)) count++;
    }
  }
  return read ? count : undefined;
}

/** How many of our own sockets listen on each port: one per address per worker. */
export function ownListeners(addresses: readonly string[], processes: number): Map<number, number> {
  const own = new Map<number, number>();
  for (const address of addresses) {
    const { port } = parseListenAddress(address, 'listen');
    own.set(port, (own.get(port) ?? 0) + processes);
  }
  return own;
}

export type HandoverResult = 'successor' | 'timeout' | 'unsupported';

/**
 * Resolves once every port has more listening sockets than `own` counts for it (a successor is
 * there), `timeoutMs` has passed, or the socket tables cannot be read. Polls every `intervalMs`.
 */
export async function awaitSuccessor(
  own: ReadonlyMap<number, number>,
  timeoutMs: number,
  intervalMs = 100,
  tables: readonly string[] = SOCKET_TABLES,
): Promise<HandoverResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    for (const [port, mine] of own) {
      const seen = await listeningSocketsOn(port, tables);
      if (seen === undefined) return 'unsupported';
      if (seen <= mine) all = false;
    }
    if (all) return 'successor';
    if (Date.now() >= deadline) return 'timeout';
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * A file that exists exactly while the process is ready, for an exec readiness probe. With
 * hostNetwork, two pods of a rollout share the node's admin address, and an HTTP probe of the new pod
 * may be answered by the old one; a file in the pod's own volume answers for that pod alone. Written
 * whole (a rename), so a reader never sees half of it.
 */
export class ReadinessFile {
  readonly #path: string;
  #ready: boolean | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  /** Records the state; the file follows when it changed. Rejects when the file cannot be written. */
  update(ready: boolean, body: object): Promise<void> {
    if (ready === this.#ready) return this.#writing;
    this.#ready = ready;
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(() => this.#write(ready, body))
      .catch((error: unknown) => {
        this.#ready = undefined; // try again on the next update
        throw error;
      });
    return this.#writing;
  }

  async #write(ready: boolean, body: object): Promise<void> {
    if (!ready) return rm(this.#path, { force: true });
    await writeFile(`${this.#path}.tmp`, JSON.stringify(body));
    await rename(`${this.#path}.tmp`, this.#path);
  }
}
