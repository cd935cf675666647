// Control-plane memory per connected gRPC client, by server kind: a bare `node:http2` server
// holding one stream open (the floor), @grpc/grpc-js's Server, and grpc-lite
// (control-plane/src/grpc-lite/). Each client is a grpc-js client on its own channel (its own
// HTTP/2 session) that opens one bidi stream, sends one message and waits for the reply; the
// server keeps every call open. The server process's RSS and heap are read after GC with
// `warmup` clients connected, then again after `N` more; the difference over N is the cost per
// connection.
//
// Usage: npx tsc -b control-plane && node scripts/bench-grpc-memory.mjs
//          [--kinds bare,grpcjs,lite,bare-tuned,lite-tuned] [--clients 2000,10000]
//          [--procs 4] [--warmup 100] [--out bench-results/grpc-memory.json]
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'control-plane', 'package.json'));
const self = fileURLToPath(import.meta.url);
const METHOD = '/ferry.bench.Echo/Chat';
const PAYLOAD = Buffer.alloc(100, 7);

// node:http2 options that could shrink per-session memory. maxSessionMemory is a limit (MB),
// not a reservation; the settings bound HPACK tables, windows and header lists.
const TUNED_HTTP2 = {
  maxSessionMemory: 1,
  maxHeaderListPairs: 32,
  maxSendHeaderBlockLength: 4096,
  maxReservedRemoteStreams: 0,
  peerMaxConcurrentStreams: 16,
  maxOutstandingPings: 2,
  settings: {
    headerTableSize: 0,
    initialWindowSize: 16_384,
    maxHeaderListSize: 8_192,
    maxConcurrentStreams: 16,
  },
};
const KEEPALIVE = { intervalMs: 30_000, timeoutMs: 10_000 };

function passthrough(value) {
  return value;
}

const ECHO_SERVICE = {
  Chat: {
    path: METHOD,
    requestStream: true,
    responseStream: true,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
    originalName: 'chat',
  },
};

/** The same handler for grpc-js and grpc-lite: answer each message, keep the call open. */
function chat(call) {
  call.on('data', (message) => call.write(message));
  call.on('error', () => undefined);
}

// --- bare node:http2: respond, answer the first message, hold the stream.
function bareOnData(chunk) {
  if (this.bareAnswered === true) return;
  if (chunk.length >= 5) {
    this.bareAnswered = true;
    const frame = Buffer.allocUnsafe(5 + PAYLOAD.length);
    frame[0] = 0;
    frame.writeUInt32BE(PAYLOAD.length, 1);
    PAYLOAD.copy(frame, 5);
    this.write(frame);
  }
}
function ignore() {}

async function runServer(kind) {
  let port;
  if (kind === 'bare' || kind === 'bare-tuned') {
    const server = http2.createServer(kind === 'bare-tuned' ? TUNED_HTTP2 : {});
    server.on('stream', (stream) => {
      stream.on('error', ignore);
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('data', bareOnData);
    });
    server.on('sessionError', ignore);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
  } else if (kind === 'grpcjs') {
    const grpc = require('@grpc/grpc-js');
    const server = new grpc.Server({
      'grpc.keepalive_time_ms': KEEPALIVE.intervalMs,
      'grpc.keepalive_timeout_ms': KEEPALIVE.timeoutMs,
      'grpc.enable_channelz': 0,
    });
    server.addService(ECHO_SERVICE, { Chat: chat });
    port = await new Promise((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  } else if (kind === 'lite' || kind === 'lite-tuned') {
    const lite = path.join(root, 'control-plane', 'dist', 'grpc-lite', 'server.js');
    if (!fs.existsSync(lite)) throw new Error(`${lite} is missing: run npx tsc -b control-plane`);
    const { GrpcLiteServer } = await import(pathToFileURL(lite).href);
    const server = new GrpcLiteServer({
      keepalive: KEEPALIVE,
      ...(kind === 'lite-tuned' ? { http2: TUNED_HTTP2 } : {}),
    });
    server.addService(ECHO_SERVICE, { Chat: chat });
    port = await server.listen(0);
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  process.on('message', async (message) => {
    if (message.type !== 'measure') return;
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const usage = process.memoryUsage();
    process.send({ type: 'memory', usage });
  });
  process.send({ type: 'listening', port });
}

// --- clients: each on its own channel (own HTTP/2 session), one bidi call, one round trip.
async function runClients() {
  const grpc = require('@grpc/grpc-js');
  const calls = [];
  let port = 0;
  async function connect(count) {
    const batch = 100;
    for (let done = 0; done < count; done += batch) {
      const wave = [];
      for (let i = done; i < Math.min(count, done + batch); i++) {
        wave.push(
          new Promise((resolve, reject) => {
            const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
              'grpc.use_local_subchannel_pool': 1,
            });
            const call = client.makeBidiStreamRequest(METHOD, passthrough, passthrough);
            call.once('data', () => resolve());
            call.on('error', (error) => reject(error));
            call.write(PAYLOAD);
            calls.push(call, client);
          }),
        );
      }
      await Promise.all(wave);
    }
  }
  process.on('message', async (message) => {
    try {
      if (message.type === 'connect') {
        port = message.port;
        await connect(message.count);
        process.send({ type: 'connected' });
      } else if (message.type === 'exit') {
        process.exit(0);
      }
    } catch (error) {
      process.send({ type: 'failed', error: String(error) });
    }
  });
  process.send({ type: 'up' });
}

function once(child, type) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`child exited (${code}) waiting for ${type}`));
    const onMessage = (message) => {
      if (message.type === type) {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      } else if (message.type === 'failed') reject(new Error(message.error));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const kinds = option('kinds', 'bare,grpcjs,lite').split(',');
  const counts = option('clients', '2000,10000').split(',').map(Number);
  const procs = Number(option('procs', '4'));
  const warmup = Number(option('warmup', '100'));
  const out = path.resolve(root, option('out', 'bench-results/grpc-memory.json'));
  const results = [];
  for (const clients of counts) {
    for (const kind of kinds) {
      const server = fork(self, ['server', kind], {
        execArgv: ['--expose-gc', '--max-old-space-size=4096'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const { port } = await once(server, 'listening');
      const clientProcs = [];
      for (let i = 0; i < procs; i++) {
        const child = fork(self, ['client'], {
          execArgv: ['--max-old-space-size=4096'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        await once(child, 'up');
        clientProcs.push(child);
      }
      const measure = async () => {
        server.send({ type: 'measure' });
        return (await once(server, 'memory')).usage;
      };
      const connectAll = async (total) => {
        const share = Math.ceil(total / procs);
        await Promise.all(
          clientProcs.map((child, i) => {
            const count = Math.max(0, Math.min(share, total - i * share));
            child.send({ type: 'connect', port, count });
            return once(child, 'connected');
          }),
        );
      };
      await connectAll(warmup);
      const before = await measure();
      const started = Date.now();
      await connectAll(clients);
      const connectMs = Date.now() - started;
      const after = await measure();
      const per = (key) => Math.round(((after[key] - before[key]) / clients / 1024) * 100) / 100;
      const row = {
        kind,
        clients,
        rssKiB: per('rss'),
        heapUsedKiB: per('heapUsed'),
        externalKiB: per('external'),
        rssTotalMiB: Math.round(after.rss / 1048576),
        connectMs,
      };
      results.push(row);
      console.log(JSON.stringify(row));
      for (const child of clientProcs) child.kill();
      server.kill();
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
  console.log(`wrote ${path.relative(root, out)}`);
  process.exit(0);
}

const role = process.argv[2];
if (role === 'server') await runServer(process.argv[3]);
else if (role === 'client') await runClients();
else await main();
