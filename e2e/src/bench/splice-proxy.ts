/**
 * Reference point of the proxy bench, not a product: about the most a Node process can relay on
 * this path, a TCP splice with no HTTP parsing. Each downstream connection gets its own upstream
 * connection to the backend. Responses are read with `onread` into one reused buffer per upstream
 * socket and written to the client as they come; the small requests go upstream through
 * 'data' events and pipe(), since Node's server sockets take no `onread`.
 * A write that does not complete at once stops reading its upstream until it does: libuv still
 * points into the buffer, and the next read would overwrite what the client has not got yet.
 *
 * Usage: node splice-proxy.js LISTEN_PORT BACKEND_PORT WORKERS (node:cluster workers, as
 * ferry-proxy runs its own).
 */
import cluster from 'node:cluster';
import net from 'node:net';

const [listenPort, backendPort, workers] = process.argv.slice(2, 5).map(Number);

function splice(down: net.Socket): void {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let waiting = false; // a write to `down` still points into `buffer`
  const up = net.connect({
    host: '127.0.0.1',
    port: backendPort!,
    noDelay: true,
    onread: {
      buffer,
      callback(bytes: number): boolean {
        down.write(buffer.subarray(0, bytes), written);
        waiting = down.writableLength > 0;
        return !waiting; // false stops reading until `written`
      },
    },
  });
  function written(): void {
    if (!waiting) return;
    waiting = false;
    up.resume();
  }
  down.pipe(up);
  down.on('error', () => up.destroy()).on('close', () => up.destroy());
  up.on('error', () => down.destroy()).on('close', () => down.destroy());
}

if (!Number.isInteger(listenPort) || !Number.isInteger(backendPort) || !(workers! >= 1)) {
  process.stderr.write('usage: node splice-proxy.js LISTEN_PORT BACKEND_PORT WORKERS\n');
  process.exit(2);
} else if (cluster.isPrimary) {
  for (let i = 0; i < workers!; i++) cluster.fork();
} else {
  net.createServer({ noDelay: true }, splice).listen(listenPort, '127.0.0.1');
}
