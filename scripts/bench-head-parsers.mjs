// In-process micro-benchmark of the HTTP/1 head parsers on ferry-proxy's request path
// (BENCHMARKS.md, "HTTP proxy", "Request path CPU"): llhttp through Node's binding
// (http1-parser.ts) against the JavaScript parsers that now take the common heads:
// - response: http1-response-head.ts on nginx's head for the bench's 100 B file (8 fields);
// - request: http1-simple-request-head.ts on wrk's GET (Host only) and on a browser-like GET
//   (9 fields).
// Each case parses the head into method/url/status and `[name, value, ...]`. llhttp and the
// JavaScript parser alternate in rounds within one process, so a loaded machine slows both
// alike; reported per case: the median and the fastest round of each, in ns per head, after 4
// warm-up rounds, and the ratio of the medians.
// Usage: node scripts/bench-head-parsers.mjs [rounds, 24] [heads per round, 50000]
// (build first: `npx tsc -b`).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (file) => import(pathToFileURL(path.join(root, file)).href);
const { Http1HeadParser } = await load('data-plane/dist/http/codec/http1-parser.js');
const { Http1ResponseHeadParser } = await load('data-plane/dist/http/codec/http1-response-head.js');
const { Http1SimpleRequestHead } = await load(
  'data-plane/dist/http/codec/http1-simple-request-head.js',
);

const rounds = Number(process.argv[2] ?? 24);
const perRound = Number(process.argv[3] ?? 50_000);
const WARMUP = 4;
const MAX = 60 * 1024;

const nginxResponse =
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 10:40:00 GMT\r\n' +
  'Content-Type: application/octet-stream\r\nContent-Length: 100\r\n' +
  'Last-Modified: Mon, 07 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\n' +
  'ETag: "6573a1b0-64"\r\nAccept-Ranges: bytes\r\n\r\n';
const wrkRequest = 'GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n';
const browserRequest =
  'GET /app/page?id=42&sort=asc HTTP/1.1\r\nHost: www.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n' +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
  'Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n' +
  'Connection: keep-alive\r\nCookie: session=abcdef0123456789; theme=dark\r\n' +
  'Upgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n\r\n';

/** Each parser as `(bytes) => head length`, reading what the proxy reads from a head. */
function llhttp(kind) {
  const parser = new Http1HeadParser(kind);
  return (bytes) => {
    parser.begin(MAX);
    const length = parser.execute(bytes);
    return length + parser.rawHeaders.length + parser.url.length + parser.statusCode;
  };
}
function response() {
  const parser = new Http1ResponseHeadParser();
  return (bytes) => {
    parser.begin(MAX);
    return parser.execute(bytes) + parser.rawHeaders.length + parser.statusCode;
  };
}
function request() {
  const parser = new Http1SimpleRequestHead();
  return (bytes) => parser.parse(bytes, 0, MAX) + parser.rawHeaders.length + parser.url.length;
}

const cases = [
  ['response (nginx, 8 fields)', nginxResponse, llhttp('response'), response()],
  ['request (wrk, 1 field)', wrkRequest, llhttp('request'), request()],
  ['request (browser, 9 fields)', browserRequest, llhttp('request'), request()],
];
const report = {};
for (const [name, head, reference, candidate] of cases) {
  const bytes = Buffer.from(`${head}xyz`, 'latin1');
  if (reference(bytes) !== candidate(bytes)) throw new Error(`${name}: the parsers disagree`);
  const times = [[], []];
  for (let round = 0; round < rounds + WARMUP; round++) {
    [reference, candidate].forEach((parse, which) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < perRound; i++) parse(bytes);
      if (round >= WARMUP) times[which].push(Number(process.hrtime.bigint() - start) / perRound);
    });
  }
  const [llhttpNs, javascriptNs] = times.map((list) => {
    list.sort((a, b) => a - b);
    return { medianNs: Math.round(list[list.length >> 1]), fastestNs: Math.round(list[0]) };
  });
  report[name] = {
    llhttp: llhttpNs,
    javascript: javascriptNs,
    ratio: Number((javascriptNs.medianNs / llhttpNs.medianNs).toFixed(2)),
  };
}
console.log(JSON.stringify(report, null, 1));
