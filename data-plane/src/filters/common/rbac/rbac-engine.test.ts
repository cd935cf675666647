import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { HeaderMap } from '../../../http/header-map.js';
import { ConnectionFacts, rfc2253Subject } from './connection-facts.js';
import { RbacEngine, RbacInput, parseIpv4Into } from './rbac-engine.js';
import { translateRbac } from './translate-rbac.js';

interface Peer {
  remote?: string;
  local?: string;
  localPort?: number;
  tls?: boolean;
  sni?: string;
  cert?: { subjectAltName?: string; subject?: string };
}

function facts(peer: Peer = {}): ConnectionFacts {
  const socket = {
    remoteAddress: peer.remote ?? '10.1.2.3',
    localAddress: peer.local ?? '192.168.0.1',
    localPort: peer.localPort ?? 8443,
    getPeerX509Certificate: () => peer.cert,
  } as unknown as Socket;
  return new ConnectionFacts(socket, peer.tls ?? false, peer.sni ?? '');
}

function engine(config: JsonObject): RbacEngine {
  const issues = new Issues('');
  const model = translateRbac(config, 'rules', issues);
  assert.deepEqual(issues.errors, []);
  return new RbacEngine(model);
}

/** An ALLOW engine with one policy: `permission` and `principal`. */
function allowIf(permission: JsonObject, principal: JsonObject = { any: true }): RbacEngine {
  return engine({ policies: { p: { permissions: [permission], principals: [principal] } } });
}

interface Request {
  peer?: Peer;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  /** The trusted client address (default: the peer's). */
  remote?: string;
}

function request(r: Request = {}): RbacInput {
  const connection = facts(r.peer);
  const headers = HeaderMap.fromObject(r.headers ?? {});
  const method = r.method ?? 'GET';
  const lookup = {
    get: (name: string) => (name === ':method' ? method : headers.get(name)),
  };
  return new RbacInput().forRequest(
    connection,
    lookup,
    r.path ?? '/',
    r.remote ?? connection.peerAddress,
  );
}

const allowed = (e: RbacEngine, r: Request = {}) => e.evaluate(request(r)).allowed;
const cidr = (address_prefix: string, prefix_len: number) => ({ address_prefix, prefix_len });

describe('RBAC engine: actions and policies', () => {
  const policies = {
    'b-admins': {
      permissions: [{ url_path: { path: { prefix: '/admin' } } }],
      principals: [{ any: true }],
    },
    'a-everything': {
      permissions: [{ any: true }],
      principals: [{ direct_remote_ip: cidr('10.0.0.0', 8) }],
    },
  };

  test('ALLOW: allowed when a policy matches; the first match in name order is reported', () => {
    const e = engine({ action: 'ALLOW', policies });
    const result = e.evaluate(request({ path: '/admin/x' }));
    assert.deepEqual(
      { ...result },
      { allowed: true, matched: true, effectivePolicyId: 'a-everything' },
    );
    const other = e.evaluate(request({ peer: { remote: '11.0.0.1' }, path: '/admin' }));
    assert.equal(other.effectivePolicyId, 'b-admins');
    const none = e.evaluate(request({ peer: { remote: '11.0.0.1' }, path: '/' }));
    assert.deepEqual({ ...none }, { allowed: false, matched: false, effectivePolicyId: '' });
  });

  test('DENY: denied when a policy matches; LOG: always allowed, matched reported', () => {
    const deny = engine({ action: 'DENY', policies });
    assert.equal(allowed(deny, { path: '/' }), false);
    assert.equal(allowed(deny, { peer: { remote: '11.0.0.1' }, path: '/' }), true);
    const log = engine({ action: 'LOG', policies });
    assert.deepEqual(
      { ...log.evaluate(request()) },
      { allowed: true, matched: true, effectivePolicyId: 'a-everything' },
    );
    assert.equal(log.evaluate(request({ peer: { remote: '11.0.0.1' } })).matched, false);
  });

  test('no policies: ALLOW denies everything, DENY allows everything', () => {
    assert.equal(allowed(engine({})), false);
    assert.equal(allowed(engine({ action: 'DENY' })), true);
  });

  test('a policy needs a matching permission AND a matching principal', () => {
    const e = engine({
      policies: {
        p: {
          permissions: [
            { url_path: { path: { exact: '/a' } } },
            { url_path: { path: { exact: '/b' } } },
          ],
          principals: [
            { header: { name: 'x-user', string_match: { exact: 'alice' } } },
            { any: true },
          ],
        },
        q: {
          permissions: [{ url_path: { path: { exact: '/c' } } }],
          principals: [{ header: { name: 'x-user', string_match: { exact: 'alice' } } }],
        },
      },
    });
    assert.equal(allowed(e, { path: '/b' }), true);
    assert.equal(allowed(e, { path: '/c' }), false);
    assert.equal(allowed(e, { path: '/c', headers: { 'x-user': 'alice' } }), true);
  });
});

describe('RBAC engine: permissions', () => {
  test('and_rules, or_rules, not_rule, any', () => {
    const e = allowIf({
      and_rules: {
        rules: [
          {
            or_rules: {
              rules: [
                { header: { name: ':method', string_match: { exact: 'GET' } } },
                { header: { name: ':method', string_match: { exact: 'HEAD' } } },
              ],
            },
          },
          { not_rule: { url_path: { path: { prefix: '/private' } } } },
          { any: true },
        ],
      },
    });
    assert.equal(allowed(e, { method: 'GET', path: '/x' }), true);
    assert.equal(allowed(e, { method: 'HEAD', path: '/x' }), true);
    assert.equal(allowed(e, { method: 'POST', path: '/x' }), false);
    assert.equal(allowed(e, { method: 'GET', path: '/private/x' }), false);
  });

  test('url_path ignores the query and fragment; header matchers see the request headers', () => {
    const path = allowIf({ url_path: { path: { exact: '/admin' } } });
    assert.equal(allowed(path, { path: '/admin?x=/y' }), true);
    assert.equal(allowed(path, { path: '/admin#frag' }), true);
    assert.equal(allowed(path, { path: '/admin/' }), false);
    const header = allowIf({ header: { name: 'x-env', present_match: true, invert_match: true } });
    assert.equal(allowed(header), true);
    assert.equal(allowed(header, { headers: { 'x-env': 'prod' } }), false);
  });

  test('destination_ip, destination_port, destination_port_range, requested_server_name', () => {
    const ip = allowIf({ destination_ip: cidr('192.168.0.0', 16) });
    assert.equal(allowed(ip, { peer: { local: '192.168.7.7' } }), true);
    assert.equal(allowed(ip, { peer: { local: '192.169.0.1' } }), false);
    const port = allowIf({ destination_port: 8443 });
    assert.equal(allowed(port), true);
    assert.equal(allowed(port, { peer: { localPort: 8444 } }), false);
    const range = allowIf({ destination_port_range: { start: 8000, end: 8443 } });
    assert.equal(allowed(range, { peer: { localPort: 8000 } }), true);
    assert.equal(allowed(range, { peer: { localPort: 8443 } }), false, 'end is exclusive');
    const sni = allowIf({ requested_server_name: { suffix: '.example.com' } });
    assert.equal(allowed(sni, { peer: { sni: 'api.example.com' } }), true);
    assert.equal(allowed(sni), false, 'no SNI is ""');
  });
});

describe('RBAC engine: principals', () => {
  const any = { any: true };

  test('and_ids, or_ids, not_id', () => {
    const e = allowIf(any, {
      and_ids: {
        ids: [
          {
            or_ids: {
              ids: [
                { direct_remote_ip: cidr('10.0.0.0', 8) },
                { header: { name: 'x-vip', present_match: true } },
              ],
            },
          },
          { not_id: { direct_remote_ip: cidr('10.9.0.0', 16) } },
        ],
      },
    });
    assert.equal(allowed(e), true);
    assert.equal(allowed(e, { peer: { remote: '10.9.1.1' } }), false);
    assert.equal(allowed(e, { peer: { remote: '8.8.8.8' } }), false);
    assert.equal(allowed(e, { peer: { remote: '8.8.8.8' }, headers: { 'x-vip': '1' } }), true);
  });

  test('source_ip and direct_remote_ip read the socket peer; remote_ip the trusted client address', () => {
    const direct = allowIf(any, { direct_remote_ip: cidr('127.0.0.1', 32) });
    const source = allowIf(any, { source_ip: cidr('127.0.0.1', 32) });
    const remote = allowIf(any, { remote_ip: cidr('127.0.0.1', 32) });
    const viaXff = { peer: { remote: '127.0.0.1' }, remote: '203.0.113.9' };
    assert.equal(allowed(direct, viaXff), true);
    assert.equal(allowed(source, viaXff), true);
    assert.equal(allowed(remote, viaXff), false);
    const fromOffice = { peer: { remote: '203.0.113.9' }, remote: '127.0.0.1' };
    assert.equal(allowed(remote, fromOffice), true);
    assert.equal(allowed(direct, fromOffice), false);
  });

  test('header and url_path principals', () => {
    const e = allowIf(any, { url_path: { path: { prefix: '/public' } } });
    assert.equal(allowed(e, { path: '/public/a?b' }), true);
    assert.equal(allowed(e, { path: '/x' }), false);
  });

  test('authenticated: TLS only; principal_name against URI SANs, then DNS SANs, then the subject', () => {
    const anyTls = allowIf(any, { authenticated: {} });
    assert.equal(allowed(anyTls, { peer: { tls: true } }), true);
    assert.equal(allowed(anyTls, { peer: { tls: false } }), false);
    const cert = {
      subjectAltName: 'DNS:client.example.com, URI:spiffe://ferry/office',
      subject: 'O=Ferry\nCN=office-client',
    };
    const byUri = allowIf(any, {
      authenticated: { principal_name: { exact: 'spiffe://ferry/office' } },
    });
    const byDns = allowIf(any, { authenticated: { principal_name: { suffix: '.example.com' } } });
    const bySubject = allowIf(any, {
      authenticated: { principal_name: { exact: 'CN=office-client,O=Ferry' } },
    });
    const other = allowIf(any, {
      authenticated: { principal_name: { exact: 'spiffe://ferry/other' } },
    });
    for (const e of [byUri, byDns, bySubject])
      assert.equal(allowed(e, { peer: { tls: true, cert } }), true);
    assert.equal(allowed(other, { peer: { tls: true, cert } }), false);
    assert.equal(allowed(byUri, { peer: { tls: false, cert } }), false);
    assert.equal(allowed(byUri, { peer: { tls: true } }), false, 'no client certificate');
  });

  test('RFC 2253 subjects: reversed, comma-joined, specials escaped', () => {
    assert.equal(rfc2253Subject('C=US\nO=A, Inc.\nCN=x'), 'CN=x,O=A\\, Inc.,C=US');
    assert.equal(rfc2253Subject(undefined), '');
  });
});

describe('RBAC engine: CIDR ranges', () => {
  const any = { any: true };
  const principal = (range: ReturnType<typeof cidr>) => allowIf(any, { direct_remote_ip: range });

  test('IPv4 edges: /0, /32, and the bits around a prefix', () => {
    assert.equal(allowed(principal(cidr('0.0.0.0', 0)), { peer: { remote: '255.1.2.3' } }), true);
    const host = principal(cidr('10.0.0.7', 32));
    assert.equal(allowed(host, { peer: { remote: '10.0.0.7' } }), true);
    assert.equal(allowed(host, { peer: { remote: '10.0.0.6' } }), false);
    const net = principal(cidr('10.1.2.3', 23)); // 10.1.2.0 - 10.1.3.255
    assert.equal(allowed(net, { peer: { remote: '10.1.2.0' } }), true);
    assert.equal(allowed(net, { peer: { remote: '10.1.3.255' } }), true);
    assert.equal(allowed(net, { peer: { remote: '10.1.1.255' } }), false);
    assert.equal(allowed(net, { peer: { remote: '10.1.4.0' } }), false);
  });

  test('IPv6 ranges match IPv6 addresses only; IPv4-mapped peers and ranges are IPv4', () => {
    const v6 = principal(cidr('2001:db8::', 32));
    assert.equal(allowed(v6, { peer: { remote: '2001:db8:ffff::1' } }), true);
    assert.equal(allowed(v6, { peer: { remote: '2001:db9::1' } }), false);
    assert.equal(
      allowed(v6, { peer: { remote: '32.1.13.184' } }),
      false,
      'same leading bits, IPv4',
    );
    assert.equal(allowed(principal(cidr('::', 0)), { peer: { remote: '10.0.0.1' } }), false);
    assert.equal(allowed(principal(cidr('::1', 128)), { peer: { remote: '::1' } }), true);
    const v4 = principal(cidr('127.0.0.0', 8));
    assert.equal(allowed(v4, { peer: { remote: '::ffff:127.0.0.1' } }), true);
    const mapped = principal(cidr('::ffff:10.0.0.0', 104));
    assert.equal(allowed(mapped, { peer: { remote: '10.200.0.1' } }), true);
    assert.equal(allowed(mapped, { peer: { remote: '11.0.0.1' } }), false);
  });

  test('a thousand ranges in one list: every range and nothing else', () => {
    const ranges = Array.from({ length: 1000 }, (_, i) => ({
      direct_remote_ip: cidr(`10.${i >> 8}.${i & 0xff}.0`, 24),
    }));
    const e = engine({ policies: { office: { permissions: [any], principals: ranges } } });
    const wide = engine({
      policies: {
        office: {
          permissions: [any],
          principals: [{ or_ids: { ids: [...ranges, { remote_ip: cidr('2001:db8::', 48) }] } }],
        },
      },
    });
    for (const i of [0, 1, 255, 256, 517, 999]) {
      const remote = `10.${i >> 8}.${i & 0xff}.77`;
      assert.equal(allowed(e, { peer: { remote } }), true, remote);
      assert.equal(allowed(wide, { peer: { remote } }), true, remote);
    }
    for (const remote of ['10.3.232.1', '10.4.0.1', '11.0.0.1', '2001:db8::1'])
      assert.equal(allowed(e, { peer: { remote } }), false, remote);
    assert.equal(allowed(wide, { peer: { remote: '8.8.8.8' }, remote: '2001:db8::1' }), true);
  });
});

describe('RBAC engine: IPv4 parsing of the trusted client address', () => {
  test('dotted quads and IPv4-mapped addresses parse; anything else is left to parseIp', () => {
    const out = new Uint8Array(4);
    assert.equal(parseIpv4Into('203.0.113.255', out), true);
    assert.deepEqual([...out], [203, 0, 113, 255]);
    assert.equal(parseIpv4Into('::FFFF:10.1.2.3', out), true);
    assert.deepEqual([...out], [10, 1, 2, 3]);
    for (const bad of [
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.4 ',
      '',
      '::1',
      'a.b.c.d',
    ])
      assert.equal(parseIpv4Into(bad, out), false, bad);
  });
});

describe('RBAC engine: network level', () => {
  test('headers are empty and url_path never matches', () => {
    const input = new RbacInput().forConnection(facts({ remote: '10.0.0.1' }));
    const absent = allowIf({ header: { name: 'x-a', present_match: false } });
    const present = allowIf({ header: { name: ':method', present_match: true } });
    const path = allowIf({ url_path: { path: { prefix: '/' } } });
    const notPath = allowIf({ not_rule: { url_path: { path: { prefix: '/' } } } });
    assert.equal(absent.evaluate(input).allowed, true);
    assert.equal(present.evaluate(input).allowed, false);
    assert.equal(path.evaluate(input).allowed, false);
    assert.equal(notPath.evaluate(input).allowed, true);
    const remote = allowIf({ any: true }, { remote_ip: cidr('10.0.0.0', 8) });
    assert.equal(remote.evaluate(input).allowed, true, 'remote_ip is the peer');
  });
});

describe('RBAC translation', () => {
  test('unsupported fields are NACKed with their paths', () => {
    const issues = new Issues('');
    translateRbac(
      {
        audit_logging_options: {},
        action: 'NOPE',
        policies: {
          p: {
            condition: {},
            permissions: [{ and_rules: { rules: [{ metadata: {} }, { uri_template: {} }] } }],
            principals: [
              {
                or_ids: { ids: [{ filter_state: {} }, { direct_remote_ip: cidr('300.0.0.1', 8) }] },
              },
            ],
          },
          q: {
            permissions: [{ destination_port_range: { start: 90, end: 80 } }],
            principals: [{ remote_ip: cidr('10.0.0.0', 33) }],
          },
        },
      },
      'rules',
      issues,
    );
    assert.deepEqual(issues.errors, [
      'rules.audit_logging_options: RBAC audit loggers are not supported by ferry-proxy',
      'rules.action: NOPE is not supported by ferry-proxy (supported: ALLOW, DENY, LOG)',
      'rules.policies["p"].condition: CEL conditions are not supported by ferry-proxy',
      'rules.policies["p"].permissions[0].and_rules.rules[0].metadata: metadata matchers are not supported by ferry-proxy',
      'rules.policies["p"].permissions[0].and_rules.rules[1].uri_template: URI template matching is not supported by ferry-proxy',
      'rules.policies["p"].principals[0].or_ids.ids[0].filter_state: filter state matchers are not supported by ferry-proxy',
      'rules.policies["p"].principals[0].or_ids.ids[1].direct_remote_ip: "300.0.0.1" is not an IP address',
      'rules.policies["q"].permissions[0].destination_port_range: start 90 must be less than end 80',
      'rules.policies["q"].principals[0].remote_ip: prefix_len 33 is out of range for "10.0.0.0" (0-32)',
    ]);
  });
});
