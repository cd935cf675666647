/**
 * AcmeCertificate as configuration: applied, listed and in history through the management API,
 * checked with field paths, satisfying references to the Secret it produces, and never served
 * over xDS.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACME_CERTIFICATE_TYPE, resourceTypeByAlias } from '@ferry/proto';
import { isFerryError } from '@ferry/shared';
import { ManagementService } from '../api/management-service.js';
import { MemoryStore } from '../store/store-memory.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { isKnownType } from '../xds/stream-context.js';
import { basicGroup, listener, sdsTls, TEST_CERT } from '../validation/test-fixtures.js';
import { acmeSpecOf } from './acme-spec.js';

function acme(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@type': ACME_CERTIFICATE_TYPE.typeUrl,
    name: 'web',
    domains: ['web.example.com', 'www.example.com'],
    directory_url: 'https://acme.example.com/directory',
    email: 'ops@example.com',
    secret_name: 'web-tls',
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

void describe('AcmeCertificate', () => {
  void test('is applied, listed, in history, and decoded with defaults', async () => {
    const store = new MemoryStore();
    const service = new ManagementService({ store });
    const applied = await service.apply({ documents: [acme()], group: 'edge' });
    assert.deepEqual(
      applied.changes.map((c) => [c.kind, c.name, c.action]),
      [['AcmeCertificate', 'web', 'created']],
    );
    const listed = await service.list({ typeUrl: ACME_CERTIFICATE_TYPE.typeUrl });
    assert.equal(listed.resources.length, 1);
    assert.equal(resourceTypeByAlias('acme'), ACME_CERTIFICATE_TYPE);
    const history = await service.history();
    assert.equal(history[0]?.changes[0]?.typeUrl, ACME_CERTIFICATE_TYPE.typeUrl);
    const stored = (await store.list({ typeUrl: ACME_CERTIFICATE_TYPE.typeUrl })).resources[0]!;
    const spec = acmeSpecOf(stored.group, stored.name, stored.value, stored.version);
    assert.deepEqual(spec.groups, ['edge'], 'no groups: the resource’s own group');
    assert.equal(spec.keyType, 'ECDSA_P256');
    assert.equal(spec.renewBeforeMs, undefined);
  });

  void test('every bad field is reported with its path', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const errors = await applyErrors(
      service,
      acme({
        domains: [
          '*.example.com',
          'Web.example.com',
          'localhost',
          'a.example.com',
          'a.example.com',
        ],
        groups: ['bad group'],
        directory_url: 'http://acme.example.com/directory',
        directory_ca_pem: 'not a certificate',
        email: 'nobody',
        secret_name: '',
        renew_before: '-5s',
      }),
    );
    const label = 'resources[0](AcmeCertificate "web")';
    assert.deepEqual(errors, [
      `${label}.domains[0]: "*.example.com" is a wildcard, which HTTP-01 cannot validate`,
      `${label}.domains[1]: "Web.example.com" must be lower case`,
      `${label}.domains[2]: "localhost" is not a fully qualified DNS name`,
      `${label}.domains[4]: "a.example.com" is listed twice`,
      `${label}.groups[0]: "bad group" is not a valid group name (letters, digits and . _ : / -, at most 253 characters)`,
      `${label}.directory_url: must be https (RFC 8555 section 6.1), got http:`,
      `${label}.directory_ca_pem: no PEM certificate found`,
      `${label}.email: "nobody" is not an email address`,
      `${label}.secret_name: required: the name of the Secret to produce`,
      `${label}.renew_before: must be a positive duration`,
    ]);
    const missing = await applyErrors(service, {
      '@type': ACME_CERTIFICATE_TYPE.typeUrl,
      name: 'x',
    });
    assert.deepEqual(missing, [
      'resources[0](AcmeCertificate "x").domains: required: at least one DNS name',
      `resources[0](AcmeCertificate "x").directory_url: required: the CA's ACME directory (https://...)`,
      'resources[0](AcmeCertificate "x").secret_name: required: the name of the Secret to produce',
    ]);
    // Unknown fields are refused by decoding, with the path.
    const unknown = await applyErrors(service, acme({ domain: 'x' }));
    assert.match(unknown.join('\n'), /domain: unknown field/);
    // A CA bundle that parses is accepted.
    await service.apply({ documents: [acme({ directory_ca_pem: TEST_CERT })] });
  });

  void test('a listener may use, over SDS, the Secret an AcmeCertificate of its group will produce', async () => {
    const service = new ManagementService({ store: new MemoryStore() });
    const https = listener('https', { port: 443, tls: sdsTls('web-tls') });
    assert.match(
      (await applyErrors(service, ...basicGroup(), https)).join('\n'),
      /secret "web-tls" does not exist/,
    );
    await service.apply({ documents: [...basicGroup(), acme(), https] });
    // Produced for another group only: the reference is not satisfied here.
    const elsewhere = new ManagementService({ store: new MemoryStore() });
    assert.match(
      (await applyErrors(elsewhere, ...basicGroup(), acme({ groups: ['edge'] }), https)).join('\n'),
      /secret "web-tls" does not exist/,
    );
  });

  void test('is never served over xDS', async () => {
    assert.equal(isKnownType(ACME_CERTIFICATE_TYPE.typeUrl), false);
    const store = new MemoryStore();
    await new ManagementService({ store }).apply({ documents: [acme()] });
    const cache = new SnapshotCache({ store, debounceMs: 0 });
    await cache.start();
    assert.equal(cache.snapshot('default', ACME_CERTIFICATE_TYPE.typeUrl).resources.size, 0);
    assert.deepEqual(cache.groups(), []);
    cache.close();
  });
});
