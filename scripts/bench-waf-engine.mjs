// Engine-level benchmark of the WAF's SecLang engine (data-plane/src/waf/seclang) running CRS PL1
// (the directives of e2e/src/waf-reference.ts, CRS as installed by Debian's modsecurity-crs):
// CPU microseconds per transaction for a typical GET and a 4 KiB urlencoded POST (median of 5
// rounds), then the WAF time of single requests carrying pathological 8 KiB and 20 KiB
// arguments (printed, to show that a request's WAF time stays bounded). `get` and `post-4k`
// repeat one request, as the proxy benchmark's wrk does; in their `-unique` variants every
// argument value and the Cookie header differ from request to request (the other headers repeat,
// as a browser's do), so the engine's memo of repeated texts serves only what real traffic
// repeats.
// Build first (`npx tsc -b`). Options: [transactions per round, 300].
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const load = (p) => import(pathToFileURL(path.join(root, 'data-plane/dist', p)).href);
const seclang = await load('waf/seclang/index.js');
const { detectSqli, detectXss } = await load('waf/libinjection/index.js');
const n = Number(process.argv[2] ?? 300);

seclang.enableLinearRegex();
const directives = `SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \\
  "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
Include /etc/modsecurity/crs/crs-setup.conf
Include /usr/share/modsecurity-crs/rules/*.conf
`;
const t0 = performance.now();
const ruleSet = await seclang.compileWaf(directives, {
  ...seclang.asyncHostLoader,
  detectors: { detectSqli, detectXss },
});
console.log(`compile: ${(performance.now() - t0).toFixed(0)} ms`);
const persistent = new seclang.PersistentCollections();

const baseHeaders = [
  ['host', 'shop.example.com'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'],
  ['accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['accept-language', 'en-US,en;q=0.5'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['cookie', 'session=4f9a1c2b7d; theme=dark'],
];
const form = (() => {
  const fields = [];
  let i = 0;
  while (fields.join('&').length < 4096) {
    fields.push(`field${i}=${encodeURIComponent(`Some ordinary text number ${i}, with words.`)}`);
    i++;
  }
  return Buffer.from(fields.join('&').slice(0, 4096), 'latin1');
})();

// The -unique variants' requests, made before the clock starts: plain words that differ from
// request to request (nothing the CRS flags).
const VARIANTS = 1000;
const WORDS = [
  'amber',
  'birch',
  'cedar',
  'delta',
  'ember',
  'fjord',
  'grove',
  'harbor',
  'inlet',
  'juniper',
];
const wordsOf = (n) =>
  String(n)
    .split('')
    .map((d) => WORDS[Number(d)])
    .join(' ');
const uniqueGets = Array.from({ length: VARIANTS }, (_, k) => ({
  uri: `/products/list?page=${k}&sort=price&q=${encodeURIComponent(wordsOf(k * 7919))}`,
  headers: baseHeaders.map(([name, value]) =>
    name === 'cookie'
      ? [name, `session=${(k * 104729 + 1e9).toString(16)}; theme=dark`]
      : [name, value],
  ),
}));
const uniqueForms = Array.from({ length: VARIANTS }, (_, k) => {
  const fields = [];
  let i = 0;
  while (fields.join('&').length < 4096) {
    fields.push(
      `field${i}=${encodeURIComponent(`Some ordinary text number ${i}, with words like ${wordsOf(k * 31 + i)}.`)}`,
    );
    i++;
  }
  return Buffer.from(fields.join('&').slice(0, 4096), 'latin1');
});
let variant = 0;
const nextVariant = () => (variant = (variant + 1) % VARIANTS);

function run(method, uri, headers, body) {
  const tx = new seclang.WafTransaction(ruleSet, persistent, 'On');
  let iv = tx.processRequestHeaders({
    method,
    uri,
    protocol: 'HTTP/1.1',
    headers,
    remoteAddr: '127.0.0.1',
    remotePort: 40000,
    uniqueId: 'bench',
  });
  iv ??= tx.processRequestBody(body);
  iv ??= tx.processResponseHeaders(200, 'HTTP/1.1', [['content-type', 'text/html']]);
  tx.processLogging();
  return { iv, tx };
}

const cases = {
  get: () => run('GET', '/products/list?page=2&sort=price', baseHeaders),
  'post-4k': () =>
    run(
      'POST',
      '/checkout',
      [
        ...baseHeaders,
        ['content-type', 'application/x-www-form-urlencoded'],
        ['content-length', String(form.length)],
      ],
      form,
    ),
  'get-unique': () => {
    const g = uniqueGets[nextVariant()];
    return run('GET', g.uri, g.headers);
  },
  'post-4k-unique': () => {
    const body = uniqueForms[nextVariant()];
    return run(
      'POST',
      '/checkout',
      [
        ...uniqueGets[variant].headers,
        ['content-type', 'application/x-www-form-urlencoded'],
        ['content-length', String(body.length)],
      ],
      body,
    );
  },
};

function cpuUs(fn, count) {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) fn();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / count;
}

for (const [name, fn] of Object.entries(cases)) {
  const { iv, tx } = fn();
  if (iv !== undefined || tx.anomalyScore !== 0)
    console.log(`  (${name}: blocked ${iv?.ruleId}, score ${tx.anomalyScore})`);
  cpuUs(fn, Math.max(10, n / 10));
  const rounds = [];
  for (let r = 0; r < 5; r++) rounds.push(cpuUs(fn, n));
  rounds.sort((a, b) => a - b);
  console.log(`${name}: ${rounds[2].toFixed(0)} us CPU per transaction (median of 5 x ${n})`);
}

// Hostile inputs: values that make CRS's backtracking regexes slow.
const hostile = {
  'spaces-8k': 'a' + ' '.repeat(8191),
  'nested-8k': '('.repeat(4096) + 'a'.repeat(4096),
  'quotes-8k': "'".repeat(8192),
  'mixed-8k': 'a=b;'.repeat(2048),
  'spaces-20k': 'a' + ' '.repeat(20479),
  'mixed-20k': '<a '.repeat(6827),
};
for (const [name, value] of Object.entries(hostile)) {
  const body = Buffer.from(`q=${encodeURIComponent(value)}`, 'latin1');
  const fn = () =>
    run(
      'POST',
      '/search',
      [
        ...baseHeaders,
        ['content-type', 'application/x-www-form-urlencoded'],
        ['content-length', String(body.length)],
      ],
      body,
    );
  const start = performance.now();
  const { iv } = fn();
  console.log(
    `hostile ${name}: ${(performance.now() - start).toFixed(0)} ms WAF time (${iv === undefined ? 'passed' : `blocked by ${iv.ruleId}`})`,
  );
}
