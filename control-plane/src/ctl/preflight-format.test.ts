import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from './args.js';
import { formatPreflight } from './preflight-format.js';

describe('ferryctl pre-flight output', () => {
  test('rejected and unchecked resources, every proxy, the warnings', () => {
    const text = formatPreflight({
      group: 'edge',
      translator_version: '1.2.3',
      checked_resources: 7,
      refuse: true,
      resources: [
        {
          type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener',
          kind: 'Listener',
          name: 'web',
          changed: true,
          errors: ['a.b: not supported by ferry-proxy', 'c[0]: bad'],
          unchecked: ['d.filename'],
          rejected_by: ['p1', 'p2'],
          blocking: true,
        },
        {
          type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
          kind: 'Cluster',
          name: 'old',
          changed: false,
          errors: ['e: bad'],
          unchecked: [],
          rejected_by: ['p1', 'p2'],
          blocking: false,
        },
      ],
      proxies: [
        {
          node_id: 'p1',
          user_agent: 'ferry-proxy/1.2.3',
          pre_checked: true,
          would_ack: false,
          rejects: ['Listener "web"'],
          note: 'pre-checked: would NACK Listener "web"',
        },
        {
          node_id: 'e1',
          user_agent: '',
          pre_checked: false,
          would_ack: false,
          rejects: [],
          note: 'not pre-checked: an unnamed client is not ferry-proxy; its ACK or NACK judges',
        },
      ],
      warnings: ['files were not read'],
      pre_checked_proxies: 3,
      other_proxies: 1,
    });
    assert.equal(
      text,
      [
        'pre-flight of group "edge" with ferry-proxy 1.2.3\'s translator: 7 resources checked, 2 rejected (the write is refused unless forced)',
        '  listener/web: would be rejected by p1, p2',
        '    a.b: not supported by ferry-proxy',
        '    c[0]: bad',
        "  listener/web: not checked (on the proxies' hosts): d.filename",
        '  cluster/old: would be rejected by p1, p2 (not changed by this write)',
        '    e: bad',
        '  proxy p1 (ferry-proxy/1.2.3): pre-checked: would NACK Listener "web"',
        '  proxy e1 (no user agent): not pre-checked: an unnamed client is not ferry-proxy; its ACK or NACK judges',
        '  and 2 more proxies (3 of all 4 pre-checked)',
        '  warning: files were not read',
        '',
      ].join('\n'),
    );
  });

  test('a group with no connected proxy says so', () => {
    const text = formatPreflight({
      group: 'default',
      translator_version: '1.2.3',
      checked_resources: 1,
      refuse: false,
      resources: [],
      proxies: [],
      warnings: [],
      pre_checked_proxies: 0,
      other_proxies: 0,
    });
    assert.match(
      text,
      /1 resource checked, none rejected\n {2}no proxy of group "default" is connected\n$/,
    );
  });

  test('--force is a flag of its own', () => {
    assert.equal(parseArgs(['apply', '--force', '-f', 'x.yaml'], {}).options.force, true);
    assert.equal(parseArgs(['apply', '-f', 'x.yaml'], {}).options.force, false);
    assert.throws(() => parseArgs(['apply', '--force=yes'], {}), /--force takes no value/);
  });
});
