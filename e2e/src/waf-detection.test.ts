/**
 * WAF detection against the reference: every case of the corpora (e2e/waf-corpus/) goes, in the
 * same run, to nginx + ModSecurity v3 and to ferry-proxy with the WAF filter, both running the
 * OWASP CRS installed on this host at paranoia level 1 in anomaly scoring mode with the same
 * directives, both in front of one backend. A case is blocked when the answer is 403.
 *
 * Asserted: the reference itself blocks >= 90% of the attacks and none of the benign requests
 * (else the corpus or the reference is broken, and nothing below would mean anything); Ferry
 * blocks >= 90% of the attacks and none of the benign requests, every benign request reaches
 * the backend (200), and Ferry's verdict is ModSecurity's on >= 98% of each corpus, the CRS
 * false positives included. Every case gets an HTTP answer from both (no reset connections).
 *
 * The per-case report (JSON) and a text summary land in test-results/waf-detection/ (or under
 * $FERRY_TEST_OUTPUT_DIR); the summary is printed too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  eventually,
  hcmFilter,
  listenerResource,
  freePort,
  startBackend,
  startProxy,
  staticBootstrap,
  staticClusterResource,
  stopAll,
  tempDir,
  type Backend,
  type Json,
} from './harness.js';
import {
  CORPUS_DIR,
  blocked,
  loadCorpus,
  runCorpus,
  sendCase,
  type CorpusCase,
} from './waf-corpus.js';
import {
  CRS_PL1_DIRECTIVES,
  auditedRules,
  startNginxModSecurity,
  type NginxModSecurity,
} from './waf-reference.js';
import {
  compareCase,
  sideVerdict,
  summaryText,
  testOutputDir,
  totals,
  type CaseComparison,
} from './waf-detection-report.js';

const CORPORA = ['attacks', 'benign', 'false-positives'] as const;
type CorpusName = (typeof CORPORA)[number];

/** The WAF filter, blocking, with its audit log of every request in `auditPath`. */
function wafFilter(auditPath: string): Json {
  return {
    name: 'ferry.filters.http.waf',
    typed_config: {
      '@type': 'type.googleapis.com/ferry.v1.Waf',
      directives: [CRS_PL1_DIRECTIVES],
      mode: 'ON',
      audit_log: { path: auditPath, all_requests: true },
    },
  };
}
const ROUTER_FILTER: Json = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/** Disagreements whose Ferry rules the report looks up (one request each, sequentially). */
const EXPLAINED = 20;

/** The lines Ferry's WAF audit log has so far (written asynchronously, after the answer). */
function auditLines(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

/** The ids of the rules an audit line of Ferry's WAF lists. */
function matchedRuleIds(line: string): string[] {
  const record = JSON.parse(line) as { matched_rules?: { id: number }[] };
  return (record.matched_rules ?? []).map((r) => String(r.id));
}

/** Requests in flight per server: enough to keep both busy on two cores, not a load test. */
const CONCURRENCY = 8;

describe('WAF detection: ferry-proxy vs nginx + ModSecurity on the CRS corpora', () => {
  let backend: Backend;
  let reference: NginxModSecurity;
  let ferryPort: number;
  let ferryAudit: string;
  const corpora = new Map<CorpusName, CorpusCase[]>();
  const compared = new Map<CorpusName, CaseComparison[]>();

  before(async () => {
    for (const name of CORPORA)
      corpora.set(name, loadCorpus(path.join(CORPUS_DIR, `${name}.jsonl`)));
    backend = await startBackend('app');
    ferryPort = await freePort();
    ferryAudit = path.join(tempDir('waf-audit'), 'audit.log');
    const routeConfig = {
      name: 'app',
      virtual_hosts: [
        {
          name: 'app',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }],
        },
      ],
    };
    [reference] = await Promise.all([
      startNginxModSecurity({ backendPort: backend.port, audit: true }),
      startProxy({
        bootstrap: staticBootstrap({
          nodeId: 'waf-detection',
          listeners: [
            listenerResource('http', ferryPort, [
              {
                filters: [
                  hcmFilter(
                    { routeConfig },
                    { http_filters: [wafFilter(ferryAudit), ROUTER_FILTER] },
                  ),
                ],
              },
            ]),
          ],
          clusters: [staticClusterResource('app', [backend.port])],
        }),
        concurrency: 1,
      }),
    ]);

    // Both servers get the corpora at the same time, each case once.
    const all = [...corpora.values()].flat();
    const [referenceResults, ferryResults] = await Promise.all([
      runCorpus(reference.port, all, CONCURRENCY),
      runCorpus(ferryPort, all, CONCURRENCY),
    ]);
    // ModSecurity writes a transaction's audit entry after it has answered: wait (bounded) for
    // an entry per answered case. The rules only annotate the report, so a missing entry does
    // not fail the test.
    const auditLog = reference.auditLog!;
    const audited = await eventually(
      () => {
        const entries = auditedRules(auditLog);
        const complete = [...referenceResults.values()].every(
          (r) => r.status === 0 || entries.has(r.clientPort),
        );
        return complete ? entries : undefined;
      },
      'an audit log entry for every case',
      10_000,
    ).catch(() => auditedRules(auditLog));
    // Ferry's audit log names no client port: the rules Ferry matched are asked for the cases
    // where the two disagree only, by sending each again alone and reading its audit line.
    const ferryRules = new Map<string, readonly string[]>();
    const disagreeing = all.filter(
      (c) =>
        blocked(referenceResults.get(c.id) ?? { status: 0, clientPort: 0 }) !==
        blocked(ferryResults.get(c.id) ?? { status: 0, clientPort: 0 }),
    );
    await eventually(
      () => (auditLines(ferryAudit).length >= all.length ? true : undefined),
      'an audit line per case from Ferry',
      10_000,
    ).catch(() => undefined);
    for (const c of disagreeing.slice(0, EXPLAINED)) {
      const seen = auditLines(ferryAudit).length;
      await sendCase(ferryPort, c);
      const line = await eventually(
        () => auditLines(ferryAudit)[seen],
        `Ferry's audit line of ${c.id}`,
        5_000,
      ).catch(() => undefined);
      if (line !== undefined) ferryRules.set(c.id, matchedRuleIds(line));
    }

    for (const [name, cases] of corpora) {
      compared.set(
        name,
        cases.map((c) => {
          const ref = referenceResults.get(c.id);
          return compareCase(
            name,
            c,
            sideVerdict(ref, ref ? audited.get(ref.clientPort)?.ruleIds : undefined),
            sideVerdict(ferryResults.get(c.id), ferryRules.get(c.id)),
          );
        }),
      );
    }

    const out = testOutputDir('waf-detection');
    const summary = summaryText(compared, 'modsecurity');
    fs.writeFileSync(
      path.join(out, 'report.json'),
      `${JSON.stringify(
        {
          reference:
            'nginx + ModSecurity v3, OWASP CRS (Debian modsecurity-crs), PL1, anomaly mode',
          directives: CRS_PL1_DIRECTIVES,
          totals: Object.fromEntries([...compared].map(([name, cases]) => [name, totals(cases)])),
          cases: [...compared.values()].flat(),
        },
        null,
        2,
      )}\n`,
    );
    fs.writeFileSync(path.join(out, 'summary.txt'), summary);
    console.log(`WAF detection (report in ${out}):\n${summary}`);
  });

  after(async () => {
    await reference?.stop();
    await stopAll();
    await backend?.close();
  });

  const cases = (name: CorpusName): CaseComparison[] => compared.get(name) ?? [];
  const ids = (list: CaseComparison[]): string =>
    list
      .slice(0, 20)
      .map((c) => c.id)
      .join(', ');

  test('every case gets an HTTP answer from both servers', () => {
    const unanswered = [...compared.values()]
      .flat()
      .filter((c) => c.reference.status === 0 || c.ferry.status === 0);
    assert.deepEqual(
      unanswered.map(
        (c) =>
          `${c.id}: modsecurity ${c.reference.error ?? c.reference.status}, ferry ${c.ferry.error ?? c.ferry.status}`,
      ),
      [],
    );
  });

  test('the reference blocks >= 90% of the attacks and no benign request (the corpus is sound)', () => {
    const attacks = totals(cases('attacks'));
    assert.ok(attacks.cases >= 300, `${attacks.cases} attacks`);
    assert.ok(
      attacks.referenceBlockRate >= 0.9,
      `ModSecurity blocked ${attacks.referenceBlocked}/${attacks.cases}`,
    );
    const benign = cases('benign');
    assert.ok(benign.length >= 300, `${benign.length} benign requests`);
    const refused = benign.filter((c) => c.reference.status !== 200);
    assert.equal(refused.length, 0, `ModSecurity refused benign ${ids(refused)}`);
  });

  test('Ferry blocks >= 90% of the attacks', () => {
    const attacks = totals(cases('attacks'));
    assert.ok(
      attacks.ferryBlockRate >= 0.9,
      `Ferry blocked ${attacks.ferryBlocked}/${attacks.cases} attacks`,
    );
  });

  test('Ferry blocks no benign request: every one reaches the backend', () => {
    const refused = cases('benign').filter((c) => c.ferry.status !== 200);
    assert.deepEqual(
      refused.map((c) => `${c.id} -> ${c.ferry.status}`),
      [],
      'benign requests Ferry did not pass',
    );
  });

  for (const name of CORPORA) {
    test(`Ferry's verdicts match ModSecurity's on >= 98% of ${name}`, () => {
      const list = cases(name);
      const t = totals(list);
      assert.ok(t.cases > 0, `${name} is empty`);
      const disagree = list.filter((c) => !c.agree);
      assert.ok(
        t.agreement >= 0.98,
        `${t.agree}/${t.cases} agree; the first disagreements: ${ids(disagree)}`,
      );
    });
  }
});
