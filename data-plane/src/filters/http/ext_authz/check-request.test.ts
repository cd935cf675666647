import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { FakeFilterCallbacks, requestHeaders } from '../filter-test-fixtures.js';
import { HeaderSelector, checkRequestInit } from './check-request.js';

interface Attributes {
  source: { principal?: string; certificate?: string; address: unknown };
  destination: { principal?: string };
  tlsSession?: { sni: string };
  request: { http: { headers: Record<string, string>; size: bigint; id: string } };
}

function attributes(init: Record<string, unknown>): Attributes {
  return (init as { attributes: Attributes }).attributes;
}

describe('checkRequestInit', () => {
  const options = {
    selector: new HeaderSelector(undefined, [(name: string) => name === 'cookie']),
    contextExtensions: {},
    body: undefined,
    packAsBytes: false,
    includePeerCertificate: false,
    includeTlsSession: false,
  };

  test('headers: pseudo-headers and repeated fields joined; disallowed ones left out', () => {
    const callbacks = new FakeFilterCallbacks();
    const headers = requestHeaders('PUT', '/a?b=1', {
      'content-length': '12',
      cookie: 'secret',
    });
    headers.append('x-multi', '1');
    headers.append('x-multi', '2');
    const http = attributes(checkRequestInit(headers, callbacks.streamInfo, options)).request.http;
    assert.deepEqual(http.headers, {
      ':authority': 'example.com',
      ':method': 'PUT',
      ':path': '/a?b=1',
      ':scheme': 'http',
      'content-length': '12',
      'x-multi': '1,2',
    });
    assert.equal(http.size, 12n);
    assert.equal(http.id, 'test-request-id');
  });

  test('TLS: principals from URI SAN or subject, the URL-encoded peer certificate, the SNI', () => {
    const callbacks = new FakeFilterCallbacks();
    const socket = {
      remoteAddress: '::ffff:10.0.0.1',
      remotePort: 1234,
      localAddress: '10.0.0.2',
      localPort: 443,
      getPeerX509Certificate: () => ({
        subjectAltName: 'DNS:client.example, URI:spiffe://ferry/client',
        subject: 'O=Ferry\nCN=client',
        toString: () => '-----BEGIN CERTIFICATE-----\nAB+/=\n-----END CERTIFICATE-----\n',
      }),
      getX509Certificate: () => ({ subject: 'O=Ferry\nCN=proxy' }),
    } as unknown as Socket;
    Object.assign(callbacks.streamInfo, {
      connection: { id: 2, socket, encrypted: true, serverName: 'app.example' },
    });
    const attrs = attributes(
      checkRequestInit(requestHeaders('GET', '/'), callbacks.streamInfo, {
        ...options,
        includePeerCertificate: true,
        includeTlsSession: true,
      }),
    );
    assert.equal(attrs.source.principal, 'spiffe://ferry/client');
    assert.equal(attrs.destination.principal, 'CN=proxy,O=Ferry');
    assert.equal(
      attrs.source.certificate,
      '-----BEGIN%20CERTIFICATE-----%0AAB%2B%2F%3D%0A-----END%20CERTIFICATE-----%0A',
    );
    assert.deepEqual(attrs.tlsSession, { sni: 'app.example' });
    assert.deepEqual(attrs.source.address, {
      address: {
        case: 'socketAddress',
        value: { address: '10.0.0.1', portSpecifier: { case: 'portValue', value: 1234 } },
      },
    });
  });
});
