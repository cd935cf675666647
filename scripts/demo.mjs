// The README's main job (`make run`): the Ferry fleet demo on loopback.
// - the control plane on its embedded SQLite store (./.ferry/demo.db);
// - two demo backends (scripts/demo-backend.mjs) on 127.0.0.1:18081 and :18082;
// - two ferry-proxy instances in group "default" (bootstraps written to ./.ferry/), admin on
//   127.0.0.1:19901 and :19902. Both receive the same listeners over xDS; two processes on one
//   host cannot bind the same port, so proxy B runs with --listener-port-offset 1 (its
//   127.0.0.1:10000 listener binds 10001). On separate hosts neither would need it.
// - examples/demo.yaml applied through ferryctl.
// Prints what to try; Ctrl-C stops everything (proxies drain gracefully). Logs: ./.ferry/logs/.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = path.join(root, '.ferry');
const logDir = path.join(stateDir, 'logs');
fs.mkdirSync(logDir, { recursive: true });
const cpBin = path.join(root, 'control-plane', 'bin', 'ferry-control-plane');
const ctlBin = path.join(root, 'control-plane', 'bin', 'ferryctl');
const proxyBin = path.join(root, 'data-plane', 'bin', 'ferry-proxy');
const xds = process.env.FERRY_XDS_ADDRESS ?? '127.0.0.1:18000';
const api = process.env.FERRY_API_ADDRESS ?? '127.0.0.1:18001';
const apiGrpc = process.env.FERRY_API_GRPC_ADDRESS ?? '127.0.0.1:18002';

const children = new Map(); // name -> ChildProcess
let stopping = false;

/**
 * Starts a child in its own process group (so the terminal's Ctrl-C reaches only this script,
 * which then stops each child once, gracefully), logging to .ferry/logs/NAME.log. Resolves with
 * the first JSON log line whose msg is `readyMsg`.
 */
function start(name, args, readyMsg) {
  const log = fs.createWriteStream(path.join(logDir, `${name}.log`));
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, FERRY_LOG_LEVEL: process.env.FERRY_LOG_LEVEL ?? 'info' },
  });
  children.set(name, child);
  child.stderr.pipe(log);
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      log.write(line + '\n');
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === readyMsg) resolve(entry);
    });
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (!stopping) {
        console.error(`demo: ${name} exited (${code ?? signal}); see .ferry/logs/${name}.log`);
        reject(new Error(`${name} exited`));
        stop();
      } else if (children.size === 0) {
        process.exit(0);
      }
    });
  });
}

function bootstrap(nodeId, adminPort) {
  const [xdsHost, xdsPort] = [
    xds.slice(0, xds.lastIndexOf(':')),
    Number(xds.slice(xds.lastIndexOf(':') + 1)),
  ];
  return {
    node: { id: nodeId, cluster: 'default' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              // A control plane that stops answering PINGs is left within ~9 s
              // (docs/architecture.md, "Noticing a hung control plane").
              explicit_http_config: {
                http2_protocol_options: { connection_keepalive: { interval: '5s', timeout: '3s' } },
              },
            },
          },
          load_assignment: {
            cluster_name: 'xds_cluster',
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: { socket_address: { address: xdsHost, port_value: xdsPort } },
                    },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

function startProxy(name, adminPort, extraArgs) {
  const configPath = path.join(stateDir, `${name}.yaml`);
  // JSON is YAML: the file is an ordinary Envoy v3 bootstrap.
  fs.writeFileSync(
    configPath,
    JSON.stringify(bootstrap(`demo-${name}`, adminPort), null, 2) + '\n',
  );
  return start(
    name,
    [
      proxyBin,
      '--config',
      configPath,
      '--concurrency',
      process.env.FERRY_DEMO_CONCURRENCY ?? '2',
      '--state-dir',
      path.join(stateDir, `${name}-state`),
      ...extraArgs,
    ],
    'proxy ready',
  );
}

function stop() {
  if (stopping) return;
  stopping = true;
  console.log('\ndemo: stopping (proxies drain first)...');
  if (children.size === 0) process.exit(0);
  for (const child of children.values()) child.kill('SIGTERM');
  // A child that does not stop in time is killed; the demo never hangs on exit.
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(1);
  }, 15_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

async function main() {
  const cp = await start(
    'control-plane',
    [
      cpBin,
      '--xds-address',
      xds,
      '--api-address',
      api,
      '--api-grpc-address',
      apiGrpc,
      '--store',
      `sqlite:${path.join(stateDir, 'demo.db')}`,
    ],
    'control plane ready',
  );
  const server = cp.api_url;
  await Promise.all([
    start(
      'backend-1',
      [path.join(root, 'scripts', 'demo-backend.mjs'), 'backend-1', '127.0.0.1:18081'],
      'demo backend ready',
    ),
    start(
      'backend-2',
      [path.join(root, 'scripts', 'demo-backend.mjs'), 'backend-2', '127.0.0.1:18082'],
      'demo backend ready',
    ),
  ]);
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
  const [a, b] = await Promise.all([
    startProxy('proxy-a', 19901, []),
    startProxy('proxy-b', 19902, ['--listener-port-offset', '1']),
  ]);
  const listen = (p) => p.listeners.map((l) => l.address).join(', ');
  console.log(`
Ferry fleet demo is up (logs in .ferry/logs/).
  control plane   xDS ${cp.xds_address}   API ${server}   gRPC API ${cp.api_grpc_address}
  dashboard       ${server}/ui/   (loopback development mode: sign in with an empty token)
  backends        backend-1 127.0.0.1:18081, backend-2 127.0.0.1:18082
  proxy A         listeners ${listen(a)}   admin http://${a.admin_address}
  proxy B         listeners ${listen(b)}   admin http://${b.admin_address}   (--listener-port-offset 1)
  Both proxies are in group "default": one apply reaches both.

Try (use port 10001 for proxy B):
  curl -s http://127.0.0.1:10000/                                  # round robin over backend-1/-2
  for i in $(seq 20); do curl -s http://127.0.0.1:10000/api/x; done | sort | uniq -c   # 90/10 split
  curl -si http://127.0.0.1:10000/old | head -3                    # 301 redirect to /
  curl -s -H 'Host: api.example.com' http://127.0.0.1:10001/        # host routing → api-v1
  control-plane/bin/ferryctl status                                # both proxies, ACKed versions
  control-plane/bin/ferryctl health                                # what each proxy's checks see
  control-plane/bin/ferryctl load                                  # requests per cluster (LRS)
  curl -s http://${a.admin_address}/clusters
  curl -s http://${a.admin_address}/config_dump | head -40
  curl -s http://${b.admin_address}/stats/prometheus | grep downstream_rq
Edit examples/demo.yaml and run \`control-plane/bin/ferryctl apply -f examples/demo.yaml\`:
both proxies change at once, with no dropped request.
Ctrl-C stops everything.
`);
}

main().catch((err) => {
  if (!stopping) console.error(`demo: ${err.message}`);
  stop();
});
