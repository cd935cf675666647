// The README's main job: a control plane on its embedded SQLite store (./.ferry/demo.db), with
// examples/demo.yaml applied through ferryctl. Prints what to try; Ctrl-C stops everything.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cpBin = path.join(root, 'control-plane', 'bin', 'ferry-control-plane');
const ctlBin = path.join(root, 'control-plane', 'bin', 'ferryctl');
const xds = process.env.FERRY_XDS_ADDRESS ?? '127.0.0.1:18000';
const api = process.env.FERRY_API_ADDRESS ?? '127.0.0.1:18001';
const apiGrpc = process.env.FERRY_API_GRPC_ADDRESS ?? '127.0.0.1:18002';

const cp = spawn(
  process.execPath,
  [
    cpBin,
    '--xds-address',
    xds,
    '--api-address',
    api,
    '--api-grpc-address',
    apiGrpc,
    '--store',
    `sqlite:${path.join(root, '.ferry', 'demo.db')}`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let stopping = false;
cp.on('exit', (code, signal) => {
  if (!stopping) console.error(`demo: control plane exited (${code ?? signal})`);
  process.exit(stopping ? 0 : 1);
});
const rl = readline.createInterface({ input: cp.stdout });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return;
  }
  if (entry.msg !== 'control plane ready') return;
  const server = entry.api_url;
  const applied = spawnSync(
    process.execPath,
    [ctlBin, '--server', server, 'apply', '-f', path.join(root, 'examples', 'demo.yaml')],
    { encoding: 'utf8' },
  );
  process.stdout.write(applied.stdout);
  process.stderr.write(applied.stderr);
  if (applied.status !== 0) {
    console.error('demo: applying examples/demo.yaml failed');
    stop();
    return;
  }
  console.log(`
Ferry control plane is up.
  xDS (ADS, SotW + delta, CSDS):  ${entry.xds_address}
  management API (HTTP/JSON):     ${server}
  management API (gRPC):          ${entry.api_grpc_address}

Try:
  control-plane/bin/ferryctl get listeners
  control-plane/bin/ferryctl get routes main -o yaml
  control-plane/bin/ferryctl diff -f examples/demo.yaml
  control-plane/bin/ferryctl status
  control-plane/bin/ferryctl history
  curl -s ${server}/v1/status

Point an Envoy (or a proxyless gRPC client) at ${entry.xds_address} with node.cluster "default".
Ctrl-C stops everything.
`);
});

function stop() {
  if (stopping) return;
  stopping = true;
  cp.kill('SIGTERM');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
