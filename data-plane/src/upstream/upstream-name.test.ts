import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterModel, UpstreamHostNameModel } from '../config/model.js';
import { plainTlsModel } from './upstream-tls-fixtures.js';
import { authorityHost, upstreamConnectionName } from './upstream-name.js';

function cluster(hostName?: UpstreamHostNameModel, tls = true): ClusterModel {
  return {
    ...(tls ? { tls: plainTlsModel() } : {}),
    ...(hostName ? { upstreamHostName: hostName } : {}),
  } as ClusterModel;
}

const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] });

describe('authorityHost', () => {
  test('strips the port and IPv6 brackets', () => {
    assert.equal(authorityHost('a.test:8443'), 'a.test');
    assert.equal(authorityHost('a.test'), 'a.test');
    assert.equal(authorityHost('[::1]:443'), '::1');
    assert.equal(authorityHost('[::1]'), '::1');
    assert.equal(authorityHost('::1'), '::1');
  });
});

describe('upstreamConnectionName (auto_sni / auto_san_validation)', () => {
  const both = { autoSni: true, autoSanValidation: true, header: '' };

  test('none without the options or without TLS', () => {
    assert.equal(upstreamConnectionName(cluster(), headers({}), 'a.test'), undefined);
    assert.equal(upstreamConnectionName(cluster(both, false), headers({}), 'a.test'), undefined);
  });

  test('the authority without port, lowercased', () => {
    assert.deepEqual(upstreamConnectionName(cluster(both), headers({}), 'A.Test:8443'), {
      sni: 'a.test',
      san: 'a.test',
    });
  });

  test('an IP address sets no SNI but is still the SAN to verify', () => {
    assert.deepEqual(upstreamConnectionName(cluster(both), headers({}), '127.0.0.1:80'), {
      san: '127.0.0.1',
    });
  });

  test('each option on its own', () => {
    assert.deepEqual(
      upstreamConnectionName(cluster({ ...both, autoSanValidation: false }), headers({}), 'a.test'),
      { sni: 'a.test' },
    );
    assert.deepEqual(
      upstreamConnectionName(cluster({ ...both, autoSni: false }), headers({}), 'a.test'),
      { san: 'a.test' },
    );
  });

  test('override_auto_sni_header wins when present and non-empty', () => {
    const c = cluster({ ...both, header: 'x-sni' });
    assert.deepEqual(upstreamConnectionName(c, headers({ 'x-sni': 'b.test:1' }), 'a.test'), {
      sni: 'b.test',
      san: 'b.test',
    });
    assert.deepEqual(upstreamConnectionName(c, headers({ 'x-sni': '' }), 'a.test'), {
      sni: 'a.test',
      san: 'a.test',
    });
    assert.deepEqual(upstreamConnectionName(c, headers({}), 'a.test'), {
      sni: 'a.test',
      san: 'a.test',
    });
  });
});
