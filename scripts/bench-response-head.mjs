// In-process micro-benchmark of the upstream response head parser (BENCHMARKS.md, "HTTP proxy",
// "Request path CPU"): http1-response-head.ts (JavaScript) against llhttp through Node's binding
// (http1-parser.ts, what the upstream connection used before), each parsing nginx's head for
// the bench's 100 B file (8 fields) and turning it into `[name, value, ...]`. The two alternate
// in rounds within one process, so a loaded machine slows both alike; the report is the median
// and the fastest round of each, in ns per head, after 4 warm-up rounds.
// Usage: node scripts/bench-response-head.mjs [rounds, 24] [heads per round, 50000]
// (build first: `npx tsc -b`).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (file) => import(pathToFileURL(path.join(root, file)).href);
const { Http1HeadParser } = await load('data-plane/dist/http/codec/http1-parser.js');
const { Http1ResponseHeadParser } = await load('data-plane/dist/http/codec/http1-response-head.js');

const rounds = Number(process.argv[2] ?? 24);
const perRound = Number(process.argv[3] ?? 50_000);
const WARMUP = 4;
const head =
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 10:40:00 GMT\r\n' +
  'Content-Type: application/octet-stream\r\nContent-Length: 100\r\n' +
  'Last-Modified: Mon, 07 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\n' +
  'ETag: "6573a1b0-64"\r\nAccept-Ranges: bytes\r\n\r\n';
const input = Buffer.from(head + 'x'.repeat(100), 'latin1');

const parsers = {
  llhttp: new Http1HeadParser('response'),
  javascript: new Http1ResponseHeadParser(),
};
const times = { llhttp: [], javascript: [] };
let check = 0;
for (let round = 0; round < rounds + WARMUP; round++) {
  for (const [name, parser] of Object.entries(parsers)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      parser.begin(60 * 1024);
      check += parser.execute(input) + parser.rawHeaders.length + (parser.shouldKeepAlive ? 1 : 0);
    }
    if (round >= WARMUP) times[name].push(Number(process.hrtime.bigint() - start) / perRound);
  }
}
if (check !== (rounds + WARMUP) * perRound * 2 * (head.length + 16 + 1))
  throw new Error('the parsers disagree on the head');
const result = {};
for (const [name, list] of Object.entries(times)) {
  list.sort((a, b) => a - b);
  result[name] = { medianNs: Math.round(list[list.length >> 1]), fastestNs: Math.round(list[0]) };
}
result.ratio = Number((result.javascript.medianNs / result.llhttp.medianNs).toFixed(2));
console.log(JSON.stringify(result));
