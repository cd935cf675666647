import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointHealthResponse, splitHostKey } from './hds-client.js';

describe('HDS client reports', () => {
  test('splitHostKey parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(splitHostKey('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
    assert.deepEqual(splitHostKey('backend:8080'), { host: 'backend', port: 8080 });
    assert.deepEqual(splitHostKey('[::1]:9000'), { host: '::1', port: 9000 });
    assert.equal(splitHostKey('no-port'), undefined);
  });

  test('endpointHealthResponse lists every checked host with its status', () => {
    const view = new Map([
      [
        'web',
        new Map([
          ['10.0.0.1:80', { status: 'HEALTHY' as const, pending: false }],
          ['[::1]:81', { status: 'UNHEALTHY' as const, pending: false }],
        ]),
      ],
      ['empty', new Map()],
    ]);
    assert.deepEqual(endpointHealthResponse(view), {
      cluster_endpoints_health: [
        {
          cluster_name: 'web',
          locality_endpoints_health: [
            {
              endpoints_health: [
                {
                  endpoint: {
                    address: { socket_address: { address: '10.0.0.1', port_value: 80 } },
                  },
                  health_status: 'HEALTHY',
                },
                {
                  endpoint: { address: { socket_address: { address: '::1', port_value: 81 } } },
                  health_status: 'UNHEALTHY',
                },
              ],
            },
          ],
        },
        { cluster_name: 'empty', locality_endpoints_health: [{ endpoints_health: [] }] },
      ],
    });
  });
});
