/**
 * The WAF corpora and the runner's request bytes (no process started): the corpora load, are as
 * large and as varied as the detection test needs, and a case becomes exactly the request it
 * describes; the reference's `@crs/` paths resolve to the Debian install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './harness.js';
import { CORPUS_DIR, loadCorpus, requestBytes, type CorpusCase } from './waf-corpus.js';
import { CRS_PL1_DIRECTIVES, resolveCrsPaths } from './waf-reference.js';

const load = (name: string): CorpusCase[] => loadCorpus(path.join(CORPUS_DIR, `${name}.jsonl`));

test('the corpora: >= 300 attacks and >= 300 benign requests, ids unique across files', () => {
  const attacks = load('attacks');
  const benign = load('benign');
  const falsePositives = load('false-positives');
  assert.ok(attacks.length >= 300, `${attacks.length} attacks`);
  assert.ok(benign.length >= 300, `${benign.length} benign`);
  assert.ok(falsePositives.length > 0);
  const ids = [...attacks, ...benign, ...falsePositives].map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
});

test('the attacks cover every category and travel in every part of a request', () => {
  const attacks = load('attacks');
  const categories = new Set(attacks.map((c) => c.category));
  for (const category of [
    'sqli',
    'xss',
    'path-traversal',
    'lfi',
    'rfi',
    'rce',
    'php',
    'java',
    'nodejs',
    'scanner',
    'protocol',
    'xxe',
  ])
    assert.ok(categories.has(category), `no ${category} attack`);
  const places = new Set(attacks.map((c) => c.where));
  for (const where of ['query', 'form', 'json', 'xml', 'cookie', 'header', 'path', 'raw'])
    assert.ok(places.has(where), `no attack in ${where}`);
  const benignPlaces = new Set(load('benign').map((c) => c.where));
  for (const where of ['query', 'form', 'json', 'xml', 'multipart', 'cookie', 'header', 'path'])
    assert.ok(benignPlaces.has(where), `no benign request in ${where}`);
});

test('XML bodies: >= 15 attacks and >= 15 benign XML or SOAP requests', () => {
  const xml = (name: string): number => load(name).filter((c) => c.where === 'xml').length;
  assert.ok(xml('attacks') >= 15, `${xml('attacks')} XML attacks`);
  assert.ok(xml('benign') >= 15, `${xml('benign')} benign XML requests`);
});

test('a case becomes its request: defaults overridden or dropped, body framed, connection closed', () => {
  const c: CorpusCase = {
    id: 'x-1',
    category: 'x',
    where: 'form',
    method: 'POST',
    path: '/a?b=%27c',
    headers: { 'User-Agent': 'probe/1', accept: null },
    body: "name=O'Brien&city=K\u00f6ln",
    contentType: 'application/x-www-form-urlencoded',
    note: 'n',
  };
  const text = requestBytes(c).toString('utf8');
  const [head, body] = text.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  assert.equal(lines[0], 'POST /a?b=%27c HTTP/1.1');
  assert.ok(lines.includes('host: app.example.com'));
  assert.ok(lines.includes('user-agent: probe/1'));
  assert.ok(!lines.some((l) => l.startsWith('accept:')), 'accept dropped');
  assert.ok(lines.includes('content-type: application/x-www-form-urlencoded'));
  assert.ok(lines.includes(`content-length: ${Buffer.byteLength(c.body!)}`));
  assert.ok(lines.includes('connection: close'));
  assert.equal(body, c.body);

  const raw = 'GET / HTTP/1.0\r\n\r\n';
  assert.equal(requestBytes({ ...c, raw }).toString('utf8'), raw);
});

test('a malformed corpus line fails with its file and line', () => {
  const file = path.join(tempDir('corpus'), 'bad.jsonl');
  const good = JSON.stringify({
    id: 'a',
    category: 'c',
    where: 'query',
    method: 'GET',
    path: '/',
    headers: {},
    note: 'n',
  });
  fs.writeFileSync(file, `${good}\n{"id":"b","category":"c","where":"query","method":"GET"}\n`);
  assert.throws(() => loadCorpus(file), /bad\.jsonl:2: path must be a non-empty string/);
  fs.writeFileSync(file, `${good}\n${good}\n`);
  assert.throws(() => loadCorpus(file), /bad\.jsonl:2: id a is used twice/);
  fs.writeFileSync(file, `${good.replace('"headers":{}', '"body":"x"')}\n`);
  assert.throws(() => loadCorpus(file), /bad\.jsonl:1: a body needs a contentType/);
});

test('@crs/ paths resolve as the WAF filter resolves them', () => {
  assert.equal(
    resolveCrsPaths(
      'Include @crs/crs-setup.conf\nInclude @crs/rules/*.conf\nSecRule A "@pmFromFile @crs/x.data" "id:1"\n',
    ),
    'Include /etc/modsecurity/crs/crs-setup.conf\nInclude /usr/share/modsecurity-crs/rules/*.conf\n' +
      'SecRule A "@pmFromFile /usr/share/modsecurity-crs/x.data" "id:1"\n',
  );
  assert.doesNotMatch(resolveCrsPaths(CRS_PL1_DIRECTIVES), /@crs/);
});
