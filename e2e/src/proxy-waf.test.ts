/**
 * ferry.filters.http.waf end to end: a real control plane and ferry-proxy, configured with
 * `ferryctl apply`, running OWASP CRS 3.3.4 (Debian's modsecurity-crs) at paranoia level 1.
 * - `?id=1' OR '1'='1` is answered 403 by the proxy (the backend never sees it) with
 *   %RESPONSE_CODE_DETAILS% `waf_blocked{rule_949110}` and the matched rules in
 *   %DYNAMIC_METADATA(ferry.waf:...)% of the access log; a benign request reaches the backend;
 * - a POST whose form body carries an attack is blocked in phase 2;
 * - a route with WafPerRoute DETECTION_ONLY lets the same attack through;
 * - an apply whose directives the engine refuses fails in pre-flight with
 *   `directives:<line>: rule <id>: ... is not supported` and never reaches the proxy;
 * - `ferryctl waf` shows the proxy's WAF (mode, rule set with CRS, the /watch/ route's
 *   DETECTION_ONLY); one apply switches that route to ON: the attack is then blocked there and
 *   `ferryctl waf` shows ON;
 * - the HCM traces every request to a real OTLP receiver: a request the WAF matched has a
 *   `waf.match` event on its server span (rule ids, anomaly score, action, mode); one it did
 *   not match has none.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  eventually,
  ferryctl,
  httpListener,
  httpRequest,
  routeConfigResource,
  staticClusterResource,
  tempDir,
  yamlDocs,
  type Json,
} from './harness.js';
import { useFleet } from './fixtures.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const NODE = 'waf-e2e';
/** Denies (418) a request whose client sent X-Request-Id or X-Forwarded-Proto. */
const CLIENT_HEADER_RULE = 1000010;
const CRS_INSTALLED = fs.existsSync(
  '/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf',
);

function config(opts: {
  listenerPort: number;
  webPort: number;
  logPath: string;
  otlpPort: number;
  extraDirective?: string;
  /** The /watch/ route's WafPerRoute mode (default DETECTION_ONLY). */
  watchMode?: 'DETECTION_ONLY' | 'ON';
}): Json[] {
  const waf = {
    name: 'ferry.filters.http.waf',
    typed_config: {
      '@type': 'type.googleapis.com/ferry.v1.Waf',
      mode: 'ON',
      directives: [
        'Include @crs/crs-setup.conf',
        'Include @crs/rules/*.conf',
        // The connection manager adds both headers to every request; the rules see them only
        // when the client sent them.
        `SecRule REQUEST_HEADERS:X-Request-Id|REQUEST_HEADERS:X-Forwarded-Proto "@rx ." "id:${CLIENT_HEADER_RULE},phase:1,deny,status:418,msg:'client header'"`,
        ...(opts.extraDirective === undefined ? [] : [opts.extraDirective]),
      ],
    },
  };
  const tracing = {
    random_sampling: { value: 100 },
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        http_service: {
          http_uri: {
            uri: `http://127.0.0.1:${opts.otlpPort}/v1/traces`,
            cluster: 'otel',
            timeout: '5s',
          },
        },
      },
    },
  };
  const accessLog = {
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path: opts.logPath,
      log_format: {
        text_format_source: {
          inline_string:
            '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %DYNAMIC_METADATA(ferry.waf:matched_rule_ids)% %DYNAMIC_METADATA(ferry.waf:anomaly_score)%\n',
        },
      },
    },
  };
  return [
    httpListener(
      'http',
      opts.listenerPort,
      { rds: 'main' },
      { httpFilters: [waf], hcm: { tracing, access_log: [accessLog] } },
    ),
    routeConfigResource('main', [
      {
        name: 'web',
        domains: ['*'],
        routes: [
          {
            match: { prefix: '/watch/' },
            route: { cluster: 'web' },
            typed_per_filter_config: {
              'ferry.filters.http.waf': {
                '@type': 'type.googleapis.com/ferry.v1.WafPerRoute',
                mode: opts.watchMode ?? 'DETECTION_ONLY',
              },
            },
          },
          { match: { prefix: '/' }, route: { cluster: 'web' } },
        ],
      },
    ]),
    staticClusterResource('web', [opts.webPort]),
    staticClusterResource('otel', [opts.otlpPort]),
  ];
}

/** `ferryctl waf -o json` (GET /v1/waf), the fields this test reads. */
interface WafStatusJson {
  filters: Array<{
    node_id: string;
    listener: string;
    filter: string;
    mode: string;
    rule_set: string;
    crs: boolean;
    routes_overriding: Array<{ path: string; mode?: string }>;
  }>;
}

// A named Host: CRS flags a numeric one (920350).
const BROWSER = {
  host: 'shop.example',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
  accept: 'text/html',
};

describe(
  'WAF with CRS 3.3.4 at PL1',
  { skip: !CRS_INSTALLED && 'modsecurity-crs is not installed' },
  () => {
    let logPath: string;
    let receiver: OtlpReceiver;
    /** The config with this fleet's ports and files; `changes` adds to the options. */
    const configOf = (
      changes: Pick<Parameters<typeof config>[0], 'extraDirective' | 'watchMode'> = {},
    ): Json[] =>
      config({
        listenerPort: fleet.port,
        webPort: fleet.backend('web').port,
        logPath,
        otlpPort: receiver.httpPort,
        ...changes,
      });

    // Before the fleet's own (hooks run in the order registered): the config names both.
    before(async () => {
      receiver = await startOtlpReceiver();
      logPath = path.join(tempDir('waf-log'), 'access.log');
    });
    const fleet = useFleet({ backends: ['web'], proxies: [NODE], config: () => configOf() });

    /** The proxy's server span of the request whose path starts with `pathPrefix`. */
    const serverSpan = async (pathPrefix: string): Promise<ReceivedSpan> => {
      const spans = await receiver.waitForSpans((all) =>
        all.some((s) => s.kind === 2 && String(s.attributes['url.path']).startsWith(pathPrefix)),
      );
      return spans.find(
        (s) => s.kind === 2 && String(s.attributes['url.path']).startsWith(pathPrefix),
      )!;
    };

    const logLine = (needle: string): Promise<string> =>
      eventually(() => {
        const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
        return text.split('\n').find((l) => l.startsWith(needle));
      }, `an access log line for ${needle}`);

    before(async () => {
      await eventually(async () => {
        const res = await httpRequest(`http://127.0.0.1:${fleet.port}/ready`, {
          headers: BROWSER,
        }).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      }, 'the proxy to serve with the WAF');
    });
    after(async () => {
      await receiver?.close();
    });

    test("`?id=1' OR '1'='1` is blocked with 403 before the backend; a benign request passes", async () => {
      const attack = await httpRequest(`http://127.0.0.1:${fleet.port}/items?id=1'%20OR%20'1'='1`, {
        headers: BROWSER,
      });
      assert.equal(attack.status, 403);
      assert.ok(
        !fleet.backend('web').requests.some((r) => r.includes('/items?id=1')),
        'the attack reached the backend',
      );
      const line = await logLine('/items?id=1%27');
      assert.match(line, / 403 waf_blocked\{rule_949110\} /);
      // libinjection's rule (942100) scored it; the blocking evaluation ran.
      assert.match(line, /942100/);
      assert.match(line, /949110/);

      const benign = await httpRequest(`http://127.0.0.1:${fleet.port}/items?id=42&sort=name`, {
        headers: BROWSER,
      });
      assert.equal(benign.status, 200);
      assert.equal(benign.body, 'web /items?id=42&sort=name');
      assert.match(await logLine('/items?id=42'), / 200 via_upstream \[\] 0$/);
    });

    test('the rules see the headers the client sent, not those the proxy adds', async () => {
      // The proxy adds x-request-id and x-forwarded-proto to every request before its filters
      // run; the WAF inspects the request as the client sent it, as nginx's ModSecurity does.
      const plain = await httpRequest(`http://127.0.0.1:${fleet.port}/plain`, { headers: BROWSER });
      assert.equal(plain.status, 200);
      assert.match(await logLine('/plain'), / 200 via_upstream \[\] 0$/);
      for (const header of ['x-request-id', 'x-forwarded-proto']) {
        const sent = await httpRequest(`http://127.0.0.1:${fleet.port}/sent-${header}`, {
          headers: { ...BROWSER, [header]: 'from-the-client' },
        });
        assert.equal(sent.status, 418, header);
        assert.match(
          await logLine(`/sent-${header}`),
          new RegExp(` 418 waf_blocked\\{rule_${CLIENT_HEADER_RULE}\\} `),
        );
      }
    });

    test('a form body carrying an attack is blocked in phase 2', async () => {
      const res = await httpRequest(`http://127.0.0.1:${fleet.port}/login`, {
        method: 'POST',
        headers: { ...BROWSER, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=admin&comment=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E',
      });
      assert.equal(res.status, 403);
      assert.ok(!fleet.backend('web').requests.some((r) => r.startsWith('POST /login')));
      const ok = await httpRequest(`http://127.0.0.1:${fleet.port}/login`, {
        method: 'POST',
        headers: { ...BROWSER, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=admin&comment=hello+there',
      });
      assert.equal(ok.status, 200);
    });

    test('WafPerRoute DETECTION_ONLY lets the attack through and still records the rules', async () => {
      const res = await httpRequest(`http://127.0.0.1:${fleet.port}/watch/x?id=1'%20OR%20'1'='1`, {
        headers: BROWSER,
      });
      assert.equal(res.status, 200);
      assert.match(await logLine('/watch/x'), / 200 via_upstream \[.*942100.*\] [1-9]\d*$/);
    });

    test('an unsupported directive fails the apply in pre-flight with directives:line: rule id', async () => {
      const refused = await ferryctl(
        fleet.cp.apiUrl,
        ['apply', '-f', '-'],
        yamlDocs(
          configOf({
            extraDirective: 'SecRule ARGS "@rx x" "id:1000001,phase:1,deny,t:reverseString"',
          }),
        ),
      );
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(
        refused.stderr,
        /directives: directives:4: rule 1000001: the transformation t:reverseString is not supported/,
      );
      // Still the accepted rule set.
      const attack = await httpRequest(`http://127.0.0.1:${fleet.port}/items?id=1'%20OR%20'1'='1`, {
        headers: BROWSER,
      });
      assert.equal(attack.status, 403);
    });

    test('a traced request the WAF matched has a waf.match event on its server span', async () => {
      const blocked = await httpRequest(
        `http://127.0.0.1:${fleet.port}/traced/blocked?id=1'%20OR%20'1'='1`,
        { headers: BROWSER },
      );
      assert.equal(blocked.status, 403);
      const blockedSpan = await serverSpan('/traced/blocked');
      assert.equal(blockedSpan.events.length, 1);
      const event = blockedSpan.events[0]!;
      assert.equal(event.name, 'waf.match');
      assert.equal(event.attributes['waf.action'], 'blocked');
      assert.equal(event.attributes['waf.mode'], 'ON');
      const ids = JSON.parse(String(event.attributes['waf.rule_ids'])) as number[];
      assert.ok(ids.includes(942100) && ids.includes(949110), `rule ids ${ids.join(',')}`);
      assert.ok(Number(event.attributes['waf.anomaly_score']) >= 5);
      assert.ok(
        event.timeUnixNano >= blockedSpan.startTimeUnixNano &&
          event.timeUnixNano <= blockedSpan.endTimeUnixNano,
      );

      const detected = await httpRequest(
        `http://127.0.0.1:${fleet.port}/watch/traced?id=1'%20OR%20'1'='1`,
        { headers: BROWSER },
      );
      assert.equal(detected.status, 200);
      const detectedEvent = (await serverSpan('/watch/traced')).events[0];
      assert.equal(detectedEvent?.attributes['waf.action'], 'detected');
      assert.equal(detectedEvent?.attributes['waf.mode'], 'DETECTION_ONLY');

      const benign = await httpRequest(`http://127.0.0.1:${fleet.port}/traced/benign?id=42`, {
        headers: BROWSER,
      });
      assert.equal(benign.status, 200);
      assert.deepEqual((await serverSpan('/traced/benign')).events, []);
    });

    // Last: it switches the /watch/ route to ON for good.
    test('`ferryctl waf` shows the route’s mode; one apply switches it from DETECTION_ONLY to ON', async () => {
      const wafStatus = async (): Promise<WafStatusJson> => {
        const r = await ferryctl(fleet.cp.apiUrl, ['waf', '-o', 'json']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as WafStatusJson;
      };
      const watchRoute = (s: WafStatusJson): string | undefined =>
        s.filters
          .find((f) => f.node_id === NODE && f.listener === 'http')
          ?.routes_overriding.find((r) => r.path === 'virtual_hosts[0].routes[0]')?.mode;

      const before = await eventually(async () => {
        const s = await wafStatus();
        return watchRoute(s) === 'DETECTION_ONLY' ? s : undefined;
      }, '`ferryctl waf` to show the /watch/ route in DETECTION_ONLY');
      const filter = before.filters.find((f) => f.node_id === NODE)!;
      assert.equal(filter.mode, 'ON');
      assert.equal(filter.crs, true);
      assert.equal(filter.filter, 'ferry.filters.http.waf');
      assert.match(filter.rule_set, /^[0-9a-f]{16}$/);
      const tableOut = await ferryctl(fleet.cp.apiUrl, ['waf']);
      assert.equal(tableOut.code, 0, tableOut.stderr);
      assert.match(tableOut.stdout, /NODE\s+GROUP\s+LISTENER\s+MODE\s+RULESET\s+ROUTES-OVERRIDING/);
      assert.match(
        tableOut.stdout,
        new RegExp(
          `${NODE}\\s+default\\s+http\\s+ON, routes: DETECTION_ONLY\\s+${filter.rule_set}\\+crs\\s+main:virtual_hosts\\[0\\]\\.routes\\[0\\]=DETECTION_ONLY`,
        ),
      );
      const other = await ferryctl(fleet.cp.apiUrl, ['waf', '--group', 'elsewhere', '-o', 'json']);
      assert.deepEqual(JSON.parse(other.stdout), { filters: [] });

      const passes = await httpRequest(
        `http://127.0.0.1:${fleet.port}/watch/before?id=1'%20OR%20'1'='1`,
        { headers: BROWSER },
      );
      assert.equal(passes.status, 200);

      const applied = await ferryctl(
        fleet.cp.apiUrl,
        ['apply', '-f', '-'],
        yamlDocs(configOf({ watchMode: 'ON' })),
      );
      assert.equal(applied.code, 0, applied.stderr);
      let n = 0;
      await eventually(async () => {
        const res = await httpRequest(
          `http://127.0.0.1:${fleet.port}/watch/after${n++}?id=1'%20OR%20'1'='1`,
          { headers: BROWSER },
        );
        return res.status === 403 ? res : undefined;
      }, 'the attack on the /watch/ route to be blocked');
      await eventually(
        async () => (watchRoute(await wafStatus()) === 'ON' ? true : undefined),
        '`ferryctl waf` to show the /watch/ route ON',
      );
      assert.equal((await wafStatus()).filters.find((f) => f.node_id === NODE)?.mode, 'ON');
    });
  },
);
