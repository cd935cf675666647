/**
 * A loopback TCP relay in front of a server, for tests of a peer that hangs without closing its
 * connection (a stopped process, a network that drops packets). While `freeze()`n the relay moves
 * no byte in either direction and closes nothing: what each side sends waits in buffers, and a
 * side that closes its socket is not seen by the other. `thaw()` moves the bytes again.
 * Test-only.
 */
import * as net from 'node:net';

export interface TcpRelay {
  /** The relay's own port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:<port>`, a gRPC target. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stops moving bytes (both directions, every connection, present and future). */
  freeze(): void;
  thaw(): void;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

export interface TcpRelayOptions {
  /** default 127.0.0.1 */
  readonly targetHost?: string;
  /** Sees every chunk as it is forwarded (`fromClient`: towards the target). */
  readonly observe?: (fromClient: boolean, chunk: Buffer) => void;
}

/** Starts a relay on 127.0.0.1 (a free port) to the target's `targetPort`. */
export async function startTcpRelay(
  targetPort: number,
  options: TcpRelayOptions = {},
): Promise<TcpRelay> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let frozen = false;
  /** Sockets whose peer closed while frozen: closed on thaw. */
  const closeOnThaw = new Set<net.Socket>();
  let accepted = 0;
  let closing: Promise<void> | undefined;

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (frozen) socket.pause();
  };

  /** Bytes from `from` to `to`, with backpressure; while frozen nothing moves and nothing ends. */
  const forward = (from: net.Socket, to: net.Socket, fromClient: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      options.observe?.(fromClient, chunk);
      if (to.write(chunk)) return;
      from.pause();
      to.once('drain', () => {
        if (!frozen) from.resume();
      });
    });
    from.on('end', () => to.end());
    from.on('close', () => {
      if (frozen) closeOnThaw.add(to);
      else to.destroy();
    });
  };

  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(targetPort, targetHost);
    track(client);
    track(upstream);
    forward(client, upstream, true);
    forward(upstream, client, false);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });

  return {
    port,
    address: `127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const socket of sockets) socket.resume();
      for (const socket of closeOnThaw) socket.destroy();
      closeOnThaw.clear();
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
