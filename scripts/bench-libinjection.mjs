// Micro-benchmark of the WAF's libinjection port (data-plane/src/waf/libinjection): CPU time per
// detectSqli / detectXss call on 1 KiB inputs (benign form text, and the same with an injection
// at the end), median of 7 rounds. For scale it also times a bare loop that reads every byte of
// the input once (what any scanner pays at least). Writes bench-results/libinjection.json.
// Build first (`npx tsc -b`). Options: [calls per round, 20000].
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { detectSqli, detectXss } = await import(
  pathToFileURL(path.join(root, 'data-plane/dist/waf/libinjection/index.js')).href
);
const calls = Number(process.argv[2] ?? 20000);

function kib(text) {
  let s = '';
  while (s.length < 1024) s += text;
  // A flat byte string, as the WAF gets from a request buffer.
  return Buffer.from(s.slice(0, 1024), 'latin1').toString('latin1');
}

const fields = [
  "name=John O'Brien",
  'email=john.doe@example.com',
  "comment=It's a fine product, I would buy it again (really!)",
  'price=1-2 EUR',
  'q=shoes size 42',
  '{"a":1,"b":[1,2],"c":"x"}',
  'address=12 Main St., Springfield',
].join('&');
const benign = kib(fields + '&');
// libinjection fingerprints the first five folded tokens, so an injection shows at the start.
const sqliAttack = kib("-1' UNION SELECT name, password FROM users WHERE id=1-- " + fields);
const xssAttack = kib('"><img src=x onerror=f(1)>' + fields);

function scan(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x3c) n++;
  return n;
}

let sink = 0;
function measure(fn, input) {
  for (let i = 0; i < calls; i++) sink += fn(input) ? 1 : 0; // warm up
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const before = process.cpuUsage();
    for (let i = 0; i < calls; i++) sink += fn(input) ? 1 : 0;
    const used = process.cpuUsage(before);
    rounds.push(((used.user + used.system) * 1000) / calls);
  }
  rounds.sort((a, b) => a - b);
  return Math.round(rounds[3]);
}

const results = {
  calls,
  ns_per_call: {
    byte_scan_1kib: measure(scan, benign),
    detect_sqli_benign_1kib: measure((s) => detectSqli(s).match, benign),
    detect_xss_benign_1kib: measure(detectXss, benign),
    detect_sqli_attack_1kib: measure((s) => detectSqli(s).match, sqliAttack),
    detect_xss_attack_1kib: measure(detectXss, xssAttack),
  },
  verdicts: {
    benign: [detectSqli(benign).match, detectXss(benign)],
    sqli_attack: detectSqli(sqliAttack).fingerprint,
    xss_attack: detectXss(xssAttack),
  },
};
fs.mkdirSync(path.join(root, 'bench-results'), { recursive: true });
fs.writeFileSync(
  path.join(root, 'bench-results/libinjection.json'),
  JSON.stringify(results, null, 2) + '\n',
);
console.log(JSON.stringify(results, null, 2));
if (sink < 0) console.log(sink);
