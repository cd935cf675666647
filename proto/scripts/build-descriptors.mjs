// Builds proto/gen/descriptors.binpb: a FileDescriptorSet of every Envoy v3 proto that compiles from
// the pinned @grpc/grpc-js-xds package's deps/ folders, plus Ferry's own protos (proto/ferry/...).
// Runs at build time (`pnpm build`); the Envoy sources are never copied into the repository.
// Why the overlay: the bundled validate.proto predates the bundled envoy-api and lacks
// StringRules.ignore_empty (field 26), which envoy-api uses; we compile a patched copy.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, '..');
const gen = path.join(protoRoot, 'gen');
const work = path.join(gen, 'buf-work');
const require = createRequire(import.meta.url);

function packageDir(name) {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const deps = path.join(packageDir('@grpc/grpc-js-xds'), 'deps');
const buf = path.join(packageDir('@bufbuild/buf'), 'bin', 'buf');

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(path.join(work, 'validate-overlay', 'validate'), { recursive: true });
fs.mkdirSync(path.join(work, 'ferry-protos'), { recursive: true });
for (const d of ['envoy-api', 'xds', 'googleapis'])
  fs.symlinkSync(path.join(deps, d), path.join(work, d));
fs.symlinkSync(path.join(protoRoot, 'ferry'), path.join(work, 'ferry-protos', 'ferry'));

const validate = fs.readFileSync(
  path.join(deps, 'protoc-gen-validate', 'validate', 'validate.proto'),
  'utf8',
);
const patched = validate.includes('ignore_empty = 26')
  ? validate
  : validate.replace(
      /message StringRules\s*\{[^\n]*\n/,
      'message StringRules {\n    optional bool ignore_empty = 26;\n',
    );
if (patched === validate && !validate.includes('ignore_empty = 26'))
  throw new Error('build-descriptors: could not patch validate.proto StringRules');
fs.writeFileSync(path.join(work, 'validate-overlay', 'validate', 'validate.proto'), patched);
fs.writeFileSync(
  path.join(work, 'buf.yaml'),
  'version: v2\nmodules:\n  - path: envoy-api\n  - path: xds\n  - path: googleapis\n  - path: validate-overlay\n  - path: ferry-protos\n',
);

function walk(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory() || (e.isSymbolicLink() && fs.statSync(full).isDirectory()))
      out.push(...walk(full, r));
    else if (e.name.endsWith('.proto')) out.push(r);
  }
  return out;
}

const envoyV3 = walk(path.join(deps, 'envoy-api', 'envoy'), 'envoy')
  .filter((f) => f.includes('/v3/'))
  .sort();
const ferryFiles = walk(path.join(protoRoot, 'ferry'), 'ferry').sort();
const excluded = new Set();
const importCache = new Map();
function importsOf(file) {
  let list = importCache.get(file);
  if (!list) {
    const text = fs.readFileSync(path.join(deps, 'envoy-api', file), 'utf8');
    list = [...text.matchAll(/^import\s+(?:public\s+)?"([^"]+)";/gm)].map((m) => m[1]);
    importCache.set(file, list);
  }
  return list;
}
const out = path.join(gen, 'descriptors.binpb');
for (let attempt = 0; attempt < 8; attempt++) {
  const targets = [
    ...envoyV3.filter((f) => !excluded.has(f)).map((f) => `envoy-api/${f}`),
    ...ferryFiles.map((f) => `ferry-protos/${f}`),
    // google.rpc.BadRequest: ferry-proxy's NACKs name each rejected resource in error_detail.details.
    'googleapis/google/rpc/error_details.proto',
  ];
  const args = ['build', '--exclude-source-info', '-o', out];
  for (const t of targets) args.push('--path', t);
  try {
    execFileSync(buf, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    const info = {
      envoyV3Total: envoyV3.length,
      compiled: envoyV3.length - excluded.size,
      excluded: [...excluded].sort(),
    };
    fs.writeFileSync(path.join(gen, 'descriptors.json'), JSON.stringify(info, null, 2) + '\n');
    console.log(
      `proto: ${info.compiled}/${info.envoyV3Total} Envoy v3 files + ${ferryFiles.length} Ferry files -> ${path.relative(process.cwd(), out)}`,
    );
    process.exit(0);
  } catch (err) {
    const stderr = String(err.stderr ?? err.message);
    const failing = new Set();
    for (const line of stderr.split('\n')) {
      const m = /^envoy-api\/(envoy\/[^:]+\.proto):/.exec(line);
      if (m) failing.add(m[1]);
    }
    if (failing.size === 0) {
      console.error(stderr);
      throw new Error('build-descriptors: buf build failed outside the Envoy v3 files (see above)');
    }
    // A failing file may be compiled only as an import of another target: exclude its importers too.
    const queue = [...failing];
    while (queue.length > 0) {
      const f = queue.pop();
      if (excluded.has(f)) continue;
      excluded.add(f);
      for (const other of envoyV3) {
        if (!excluded.has(other) && importsOf(other).includes(f)) queue.push(other);
      }
    }
  }
}
throw new Error('build-descriptors: too many attempts');
