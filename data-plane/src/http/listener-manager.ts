/**
 * The listeners of one worker, keyed by address (`host:port`). `apply` keeps the socket of a
 * listener whose address is unchanged (its binding is swapped), opens new addresses and drains
 * removed ones, so a listener change never refuses a connection on an address that stays.
 */
import { formatHostPort, type Logger } from '@ferry/shared';
import { ListenerServer, type ListenerBinding, type ListenerHandlers } from './listener-server.js';

export function addressKey(binding: ListenerBinding): string {
  const { host, port } = binding.model.address;
  const address = formatHostPort(host, port);
  // Port 0 asks the OS for a free port: such listeners never share a socket, so they are kept
  // by name (translation accepts several of them on one host).
  return port === 0 ? `${address}/${binding.model.name}` : address;
}

export class ListenerManager<B extends ListenerBinding> {
  readonly #handlers: ListenerHandlers<B>;
  readonly #logger: Logger;
  readonly #servers = new Map<string, ListenerServer<B>>();
  readonly #draining = new Set<Promise<void>>();
  /** Drain deadline for removed listeners (Envoy's drain time, default 600 s; bounded here). */
  readonly #drainMs: number;

  constructor(handlers: ListenerHandlers<B>, logger: Logger, drainMs = 30_000) {
    this.#handlers = handlers;
    this.#logger = logger;
    this.#drainMs = drainMs;
  }

  /**
   * Opens, updates and drains listeners so that exactly `bindings` are served. Rejects with the
   * bind errors (after applying everything else) when a new address cannot be bound.
   */
  async apply(bindings: readonly B[]): Promise<void> {
    const wanted = new Map<string, B>();
    for (const binding of bindings) wanted.set(addressKey(binding), binding);
    const opening: Promise<void>[] = [];
    const failures: string[] = [];
    for (const [key, binding] of wanted) {
      const existing = this.#servers.get(key);
      if (existing !== undefined) {
        existing.update(binding);
        continue;
      }
      const server = new ListenerServer(binding, this.#handlers);
      this.#servers.set(key, server);
      opening.push(
        server.listen().catch((err: Error) => {
          this.#servers.delete(key);
          server.destroy();
          failures.push(`listener "${binding.model.name}" (${key}): ${err.message}`);
        }),
      );
    }
    for (const [key, server] of this.#servers) {
      if (wanted.has(key)) continue;
      this.#servers.delete(key);
      this.#logger.info(
        { listener: server.binding.model.name, address: key },
        'draining removed listener',
      );
      const drained = server.close(this.#drainMs);
      this.#draining.add(drained);
      void drained.finally(() => this.#draining.delete(drained));
    }
    await Promise.all(opening);
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  /** The server for a listener name (tests and admin read its port). */
  byName(name: string): ListenerServer<B> | undefined {
    for (const server of this.#servers.values())
      if (server.binding.model.name === name) return server;
    return undefined;
  }

  servers(): IterableIterator<ListenerServer<B>> {
    return this.#servers.values();
  }

  /** Stops accepting on every listener and drains them until `deadlineMs`. */
  async close(deadlineMs: number): Promise<void> {
    const servers = [...this.#servers.values()];
    this.#servers.clear();
    await Promise.all([...servers.map((s) => s.close(deadlineMs)), ...this.#draining]);
  }

  destroy(): void {
    for (const server of this.#servers.values()) server.destroy();
    this.#servers.clear();
  }
}
