/**
 * The request body processors against the reference: a handful of probes go to nginx +
 * ModSecurity v3 and to ferry-proxy's WAF filter running the same small rule set, once with the
 * rule that selects the JSON processor (`ctl:requestBodyProcessor=JSON`, as
 * modsecurity.conf-recommended has it) and once without. Each rule answers with its own status,
 * so a probe's status says what the engine saw:
 * - 400: REQBODY_ERROR (the processor failed, e.g. on an empty XML body);
 * - 403: an ARGS_POST value holds the needle (urlencoded or multipart fields parsed);
 * - 410: an ARGS value that is not in ARGS_POST holds it (JSON arguments: ModSecurity v3 puts
 *   them in ARGS only);
 * - 406: XML:/* holds it (the XML processor ran);
 * - 409: only REQUEST_BODY holds it (the raw body is kept, nothing parsed it into arguments);
 * - 200: none of these.
 * Asserted: Ferry answers every probe with ModSecurity's status, with and without the rule.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort,
  httpListener,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  type Backend,
  type Json,
} from './harness.js';
import { sendCase, type CorpusCase } from './waf-corpus.js';
import { startNginxModSecurity, type NginxModSecurity } from './waf-reference.js';

const JSON_PROCESSOR_RULE = `SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
  "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
`;

/** The rule set both sides run; `json` adds the rule that selects the JSON processor. */
function directives(json: boolean): string {
  return `SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \\
  "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
${json ? JSON_PROCESSOR_RULE : ''}SecRule REQBODY_ERROR "!@eq 0" "id:10,phase:2,t:none,deny,status:400"
SecRule ARGS_POST "@contains needle" "id:11,phase:2,t:none,deny,status:403"
SecRule ARGS "@contains needle" "id:14,phase:2,t:none,deny,status:410"
SecRule XML:/* "@contains needle" "id:12,phase:2,t:none,deny,status:406"
SecRule REQUEST_BODY "@contains needle" "id:13,phase:2,t:none,deny,status:409"
`;
}

function probe(
  id: string,
  contentType: string | undefined,
  body: string | undefined,
  method = 'POST',
): CorpusCase {
  return {
    id,
    category: 'probe',
    where: 'body',
    method,
    path: '/submit',
    headers: contentType !== undefined && body === undefined ? { 'content-type': contentType } : {},
    ...(body !== undefined ? { body, contentType: contentType ?? '' } : {}),
    note: id,
  };
}

const MULTIPART_BOUNDARY = 'probe-boundary';
const multipart = (partHeader: string, value: string): string =>
  `--${MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n${partHeader}\r\n` +
  `${value}\r\n--${MULTIPART_BOUNDARY}--\r\n`;

const PROBES: readonly CorpusCase[] = [
  probe('xml-empty', 'text/xml', ''),
  probe('xml-empty-application', 'application/xml', ''),
  probe('xml-whitespace', 'application/xml', '  \r\n\t'),
  probe('xml-get-without-body', 'application/xml', undefined, 'GET'),
  probe('xml-text', 'application/xml', '<a>needle</a>'),
  probe('xml-comment', 'application/xml', '<a>x</a><!-- needle -->'),
  probe('xml-broken', 'application/xml', '<a>needle'),
  probe('urlencoded-empty', 'application/x-www-form-urlencoded', ''),
  probe('urlencoded-value', 'application/x-www-form-urlencoded', 'a=needle'),
  probe('urlencoded-name', 'application/x-www-form-urlencoded', 'needle=1'),
  probe('urlencoded-charset', 'Application/X-WWW-Form-Urlencoded; charset=UTF-8', 'a=needle'),
  probe('json-empty', 'application/json', ''),
  probe('json-whitespace', 'application/json', '  \n'),
  probe('json-value', 'application/json', '{"a":"needle"}'),
  probe('json-name', 'application/json', '{"needle":1}'),
  probe('json-broken', 'application/json', '{"a":"needle"'),
  probe('json-charset', 'application/json; charset=utf-8', '{"a":"needle"}'),
  probe('json-vendor-type', 'application/vnd.api+json', '{"a":"needle"}'),
  probe('json-problem-type', 'application/problem+json', '{"a":"needle"}'),
  probe('json-as-urlencoded', 'application/json', 'a=needle'),
  probe('multipart-empty', `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`, ''),
  probe(
    'multipart-value',
    `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`,
    multipart('', 'needle'),
  ),
  probe(
    'multipart-part-header',
    `multipart/form-data; boundary=${MULTIPART_BOUNDARY}`,
    multipart('X-Note: needle\r\n', 'x'),
  ),
  probe('text-plain', 'text/plain', 'needle'),
  probe('text-plain-empty', 'text/plain', ''),
];

async function startFerry(backendPort: number, rules: string): Promise<number> {
  const port = await freePort();
  const waf: Json = {
    name: 'ferry.filters.http.waf',
    typed_config: { '@type': 'type.googleapis.com/ferry.v1.Waf', directives: [rules], mode: 'ON' },
  };
  await startProxy({
    bootstrap: staticBootstrap({
      nodeId: `waf-body-${port}`,
      listeners: [httpListener('http', port, { cluster: 'app' }, { httpFilters: [waf] })],
      clusters: [staticClusterResource('app', [backendPort])],
    }),
    concurrency: 1,
  });
  return port;
}

/** `id: status` per probe, in order, from one server. */
async function statuses(port: number): Promise<string[]> {
  const out: string[] = [];
  for (const p of PROBES) {
    const r = await sendCase(port, p);
    out.push(`${p.id}: ${r.status === 0 ? (r.error ?? 'no answer') : r.status}`);
  }
  return out;
}

describe('WAF body processors: ferry-proxy vs nginx + ModSecurity', () => {
  let backend: Backend;
  const references: NginxModSecurity[] = [];
  const ports = new Map<boolean, { reference: number; ferry: number }>();

  before(async () => {
    backend = await startBackend('app');
    for (const json of [true, false]) {
      const [reference, ferry] = await Promise.all([
        startNginxModSecurity({ backendPort: backend.port, directives: directives(json) }),
        startFerry(backend.port, directives(json)),
      ]);
      references.push(reference);
      ports.set(json, { reference: reference.port, ferry });
    }
  });

  after(async () => {
    for (const r of references) await r.stop();
    await stopAll();
    await backend?.close();
  });

  for (const json of [true, false]) {
    test(`every probe gets ModSecurity's status ${json ? 'with' : 'without'} the JSON processor rule`, async () => {
      const { reference, ferry } = ports.get(json)!;
      const expected = await statuses(reference);
      // The probes are sound: the reference answered every one of them.
      assert.ok(
        expected.every((line) => /: \d{3}$/.test(line)),
        expected.join('\n'),
      );
      assert.deepEqual(await statuses(ferry), expected);
    });
  }
});
