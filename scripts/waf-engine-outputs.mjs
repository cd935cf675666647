// What the WAF engine decides, case by case, so that two builds can be compared: every case of
// e2e/waf-corpus/, the bench's requests (scripts/bench-waf-engine.mjs) and a few odd ones go
// through the SecLang engine of one build running CRS_PL1_DIRECTIVES (e2e/src/waf-reference.ts),
// in `On` and in `DetectionOnly`, and each transaction's outcome is printed as one JSON line:
// intervention, anomaly scores, time budget flag, matched rules with their messages and logdata.
//
//   node scripts/waf-engine-outputs.mjs > after.jsonl
//   node scripts/waf-engine-outputs.mjs /tmp/before > before.jsonl   # another build's tree
//   cmp before.jsonl after.jsonl
//
// The tree is a checkout with data-plane/dist built (`npx tsc -b`); the corpora and their
// request encoding come from this checkout's e2e/dist.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tree = path.resolve(process.argv[2] ?? here);
const load = (root, p) => import(pathToFileURL(path.join(root, p)).href);
const seclang = await load(tree, 'data-plane/dist/waf/seclang/index.js');
const { detectSqli, detectXss } = await load(tree, 'data-plane/dist/waf/libinjection/index.js');
const { loadCorpus, requestBytes, CORPUS_DIR } = await load(here, 'e2e/dist/waf-corpus.js');
const { CRS_PL1_DIRECTIVES, resolveCrsPaths } = await load(here, 'e2e/dist/waf-reference.js');

seclang.enableLinearRegex();
const ruleSet = await seclang.compileWaf(resolveCrsPaths(CRS_PL1_DIRECTIVES), {
  ...seclang.asyncHostLoader,
  detectors: { detectSqli, detectXss },
});
const persistent = new seclang.PersistentCollections();

/** A request's bytes as the engine's inputs (request line, headers, the body after them). */
function parse(bytes) {
  const end = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
  const lines = head.split('\r\n');
  const [method = '', uri = '/', protocol = 'HTTP/1.1'] = lines[0].split(' ');
  const headers = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { method, uri, protocol, headers, body: end < 0 ? undefined : bytes.subarray(end + 4) };
}

const cases = [];
for (const file of ['attacks', 'benign', 'false-positives'])
  for (const c of loadCorpus(path.join(CORPUS_DIR, `${file}.jsonl`)))
    cases.push([c.id, parse(requestBytes(c))]);
const browser = [
  ['host', 'shop.example.com'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'],
  ['accept', 'text/html'],
  ['cookie', 'session=4f9a1c2b7d; theme=dark'],
];
const form = ['content-type', 'application/x-www-form-urlencoded'];
const fields = Array.from(
  { length: 90 },
  (_, i) => `field${i}=${encodeURIComponent(`Some ordinary text number ${i}, with words.`)}`,
);
const odd = {
  'bench-get': { method: 'GET', uri: '/products/list?page=2&sort=price', headers: browser },
  'bench-post': {
    method: 'POST',
    uri: '/checkout',
    headers: [...browser, form],
    body: Buffer.from(fields.join('&')),
  },
  'long-argument': {
    method: 'POST',
    uri: '/search',
    headers: [...browser, form],
    body: Buffer.from(`q=${'select '.repeat(1000)}`),
  },
  'no-headers': { method: 'GET', uri: '/', protocol: 'HTTP/1.0', headers: [] },
  latin1: {
    method: 'GET',
    uri: '/a?x=%ff%fe',
    headers: [
      ['host', 'h\xe9'],
      ['x-a', '\xff\xfe<script>'],
    ],
  },
};
for (const [id, r] of Object.entries(odd)) cases.push([id, { protocol: 'HTTP/1.1', ...r }]);

const addresses = ['127.0.0.1', '::1', 'not-an-address', '10.0.0.1'];
for (const mode of ['On', 'DetectionOnly']) {
  let k = 0;
  for (const [id, r] of cases) {
    const tx = new seclang.WafTransaction(ruleSet, persistent, mode);
    let iv = tx.processRequestHeaders({
      method: r.method,
      uri: r.uri,
      protocol: r.protocol,
      headers: r.headers,
      remoteAddr: addresses[k++ % addresses.length],
      remotePort: 40000,
      uniqueId: `case-${k}`,
    });
    iv ??= tx.processRequestBody(r.body ?? Buffer.alloc(0));
    iv ??= tx.processResponseHeaders(200, 'HTTP/1.1', [
      ['content-type', 'text/html'],
      ['content-length', '12'],
    ]);
    iv ??= tx.processResponseBody(Buffer.from('hello world\n'));
    tx.processLogging();
    console.log(
      JSON.stringify({
        mode,
        id,
        intervention: iv,
        score: tx.anomalyScore,
        outbound: tx.outboundAnomalyScore,
        budgetExceeded: tx.budgetExceeded,
        matched: tx.matched,
      }),
    );
  }
}
