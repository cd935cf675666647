/**
 * RateLimitPolicy as configuration: applied, listed, in history, never served over xDS; every bad
 * field reported with its path; descriptor matching as envoyproxy/ratelimit matches.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RATE_LIMIT_POLICY_TYPE, resourceTypeByAlias } from '@ferry/proto';
import { isFerryError } from '@ferry/shared';
import { ManagementService } from '../api/management-service.js';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { isKnownType } from '../xds/stream-context.js';
import {
  compileRateLimitPolicy,
  matchDescriptor,
  type CompiledRateLimitPolicy,
} from './rate-limit-policy.js';

export function rateLimitPolicy(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': RATE_LIMIT_POLICY_TYPE.typeUrl,
    name: 'edge-limits',
    domain: 'edge',
    descriptors: [
      {
        key: 'path',
        value: '/login',
        descriptors: [
          { key: 'remote_address', rate_limit: { unit: 'SECOND', requests_per_unit: 100 } },
        ],
      },
    ],
    ...fields,
  };
}

async function applyErrors(
  service: ManagementService,
  ...docs: Array<Record<string, unknown>>
): Promise<readonly string[]> {
  try {
    await service.apply({ documents: docs });
  } catch (err) {
    assert.ok(isFerryError(err));
    assert.equal(err.code, 'FERRY_INVALID_CONFIG', err.message);
    return err.details;
  }
  assert.fail('apply was accepted');
}

function compiled(descriptors: unknown[]): CompiledRateLimitPolicy {
  const result = compileRateLimitPolicy({ domain: 'd', descriptors } as never);
  if (!result.ok) assert.fail(result.errors.join('\n'));
  return result.value;
}

void describe('RateLimitPolicy', () => {
  void test('is applied, listed, in history, and never served over xDS', async () => {
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    const applied = await service.apply({ documents: [rateLimitPolicy()], group: 'edge' });
    assert.deepEqual(
      applied.changes.map((c) => [c.kind, c.name, c.action]),
      [['RateLimitPolicy', 'edge-limits', 'created']],
    );
    assert.equal(
      (await service.list({ typeUrl: RATE_LIMIT_POLICY_TYPE.typeUrl })).resources.length,
      1,
    );
    assert.equal(resourceTypeByAlias('ratelimitpolicies'), RATE_LIMIT_POLICY_TYPE);
    assert.equal((await service.history())[0]?.changes[0]?.typeUrl, RATE_LIMIT_POLICY_TYPE.typeUrl);
    assert.equal(isKnownType(RATE_LIMIT_POLICY_TYPE.typeUrl), false);
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    assert.equal(cache.snapshot('edge', RATE_LIMIT_POLICY_TYPE.typeUrl).resources.size, 0);
    assert.deepEqual(cache.groups(), []);
    cache.close();
  });

  void test('every bad field is reported with its path', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const label = 'resources[0](RateLimitPolicy "edge-limits")';
    const errors = await applyErrors(
      service,
      rateLimitPolicy({
        domain: '',
        descriptors: [
          { key: 'remote_address', rate_limit: { unit: 'MINUTE' } },
          { key: 'remote_address', rate_limit: { requests_per_unit: 5 } },
          {
            key: 'path',
            value: '/a',
            descriptors: [{ value: 'x', rate_limit: { unit: 'SECOND', requests_per_unit: 1 } }],
          },
          { key: 'path', value: '/a', rate_limit: { unit: 'SECOND', requests_per_unit: 1 } },
          { key: 'path', value: '/b' },
          { key: 'ok', rate_limit: { unlimited: true, unit: 'SECOND', requests_per_unit: 3 } },
        ],
      }),
    );
    assert.deepEqual(errors, [
      `${label}.domain: required: the domain the proxies' ratelimit filters send (e.g. "edge")`,
      `${label}.descriptors[0].rate_limit.requests_per_unit: required: at least 1 (or set unlimited: true)`,
      `${label}.descriptors[1]: duplicate descriptor: key "remote_address" is also descriptors[0]`,
      `${label}.descriptors[1].rate_limit.unit: required: SECOND, MINUTE, HOUR or DAY`,
      `${label}.descriptors[2].descriptors[0].key: required: the descriptor entry key to match`,
      `${label}.descriptors[3]: duplicate descriptor: key "path" with value "/a" is also descriptors[2]`,
      `${label}.descriptors[4]: needs a rate_limit or nested descriptors (it limits nothing otherwise)`,
      `${label}.descriptors[5].rate_limit.unit: an unlimited rate_limit has no unit`,
      `${label}.descriptors[5].rate_limit.requests_per_unit: an unlimited rate_limit has no rate`,
    ]);
    assert.deepEqual(await applyErrors(service, rateLimitPolicy({ descriptors: [] })), [
      `${label}.descriptors: at least one descriptor is required (a policy without one limits nothing)`,
    ]);
    assert.match(
      (await applyErrors(service, rateLimitPolicy({ unit: 'x' }))).join('\n'),
      /unit: unknown field/,
    );
  });

  void test('a domain has one policy per group', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    await service.apply({ documents: [rateLimitPolicy()] });
    // Another group may use the same domain.
    await service.apply({ documents: [rateLimitPolicy({ name: 'other' })], group: 'edge' });
    const errors = await applyErrors(service, rateLimitPolicy({ name: 'other' }));
    assert.deepEqual(errors, [
      'resources[0](RateLimitPolicy "other").domain: "edge" is already the domain of RateLimitPolicy "edge-limits" in group "default"; a domain has one policy per group',
    ]);
  });

  void test('matching: exact value before key alone, nested entries, unlimited, no rule', () => {
    const policy = compiled([
      {
        key: 'remote_address',
        rate_limit: { unit: 'SECOND', requests_per_unit: 10, name: 'per-ip' },
      },
      { key: 'remote_address', value: '10.0.0.1', rate_limit: { unlimited: true } },
      {
        key: 'path',
        value: '/login',
        descriptors: [
          { key: 'remote_address', rate_limit: { unit: 'MINUTE', requests_per_unit: 5 } },
        ],
      },
      { key: 'shadow', rate_limit: { unit: 'HOUR', requests_per_unit: 1 }, shadow_mode: true },
    ]);
    const perIp = matchDescriptor(policy, [{ key: 'remote_address', value: '192.0.2.1' }]);
    assert.deepEqual(perIp, {
      unit: 'SECOND',
      requestsPerUnit: 10,
      name: 'per-ip',
      shadowMode: false,
    });
    assert.equal(
      matchDescriptor(policy, [{ key: 'remote_address', value: '10.0.0.1' }]),
      'unlimited',
    );
    assert.deepEqual(
      matchDescriptor(policy, [
        { key: 'path', value: '/login' },
        { key: 'remote_address', value: '192.0.2.1' },
      ]),
      { unit: 'MINUTE', requestsPerUnit: 5, name: '', shadowMode: false },
    );
    // The /login node itself has no rate_limit; other paths have no rule; too many entries miss.
    assert.equal(matchDescriptor(policy, [{ key: 'path', value: '/login' }]), undefined);
    assert.equal(matchDescriptor(policy, [{ key: 'path', value: '/other' }]), undefined);
    assert.equal(
      matchDescriptor(policy, [
        { key: 'remote_address', value: '192.0.2.1' },
        { key: 'path', value: '/login' },
      ]),
      undefined,
    );
    assert.equal(matchDescriptor(policy, []), undefined);
    assert.equal(
      (matchDescriptor(policy, [{ key: 'shadow', value: 'x' }]) as { shadowMode: boolean })
        .shadowMode,
      true,
    );
  });
});
