/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toYaml } from './yaml.js';

test('nested maps and lists in block style, list items of maps aligned', () => {
  assert.equal(
    toYaml({ name: 'web', filter_chains: [{ filters: [{ name: 'a' }, { name: 'b' }] }], n: 3 }),
    [
      'name: web',
      'filter_chains:',
      '  - filters:',
      '      - name: a',
      '      - name: b',
      'n: 3',
      '',
    ].join('\n'),
  );
});

test('strings YAML would read as something else are quoted', () => {
  assert.equal(
    toYaml({ a: 'true', b: '10', c: 'x: y', d: '', e: '*', f: 'plain text', g: null, h: [] }),
    'a: "true"\nb: "10"\nc: "x: y"\nd: ""\ne: "*"\nf: plain text\ng: null\nh: []\n',
  );
});

test('keys that need it are quoted too', () => {
  assert.equal(toYaml({ '@type': 'x' }), '"@type": x\n');
});
