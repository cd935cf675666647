/**
 * Test helpers for the translation tests: Envoy resources written as YAML, decoded exactly as the
 * proxy receives them (strict proto3 JSON → normalised JSON), sorted by type. Not used by product
 * code.
 */
import assert from 'node:assert/strict';
import { parseDocuments, parseResourceJson } from '@ferry/proto';
import type { JsonObject, XdsResources } from './translate.js';

/** A self-signed P-256 certificate (CN=ferry-test, valid until 2126) and its key. */
export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIUUEHxqeGbp50hTj4t85d+PyMdj5kwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZmVycnktdGVzdDAgFw0yNjExMjcwOTQ2MTdaGA8yMTI2MTEw
MzA5NDYxN1owFTETMBEGA1UEAwwKZmVycnktdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABDINmeCUNa2VRdafyx3LYry4MWYAOJMdPQ5FJYLXVmlI86uz44Zx
/41a5ZxpXjC5PbSoRLI6qqztdhGKJTyXESqjUzBRMB0GA1UdDgQWBBROPxRfswTU
5++qoAiXBk74az8XuTAfBgNVHSMEGDAWgBROPxRfswTU5++qoAiXBk74az8XuTAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFUwWwf0CVB1qOK/gtqd
wEvxPqDhV9vn6NDOLXaDwdttAiEAhMaRFH6xQObkik6N3JDYpR8zriPfPOdGWh6Z
ZjW8jZw=
-----END CERTIFICATE-----
`;

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgp/pSMS0J047w85xt
VTIGkT3PiQ76k5ep36KdJAX75HKhRANCAAQyDZnglDWtlUXWn8sdy2K8uDFmADiT
HT0ORSWC11ZpSPOrs+OGcf+NWuWcaV4wuT20qESyOqqs7XYRiiU8lxEq
-----END PRIVATE KEY-----
`;

/** A valid key that does not belong to TEST_CERT. */
export const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZo0Q2hZXVHMDMko9
gK4MLDJEHgR9+WRxr9ReWbLEn5mhRANCAAQJivV43QZgWObns3Um8L6oUSJO88JF
kg4NnAJ+gI5x40C143rlitWdZ8BcCIWv0MTSNSW54WEInzSeyn397jOd
-----END PRIVATE KEY-----
`;

const KIND_TO_FIELD = {
  Listener: 'listeners',
  RouteConfiguration: 'routeConfigs',
  Cluster: 'clusters',
  ClusterLoadAssignment: 'endpoints',
  Secret: 'secrets',
} as const;

/** YAML documents with "@type" (short names like `Cluster` are expanded) → XdsResources. */
export function resources(yaml: string): XdsResources {
  const docs = parseDocuments(yaml, 'fixture');
  if (!docs.ok) assert.fail(docs.errors.join('; '));
  return resourcesOf(docs.value);
}

/** Resource documents (objects with "@type") → XdsResources, decoded strictly. */
export function resourcesOf(docs: readonly unknown[]): XdsResources {
  const out: Record<string, JsonObject[]> = {
    listeners: [],
    routeConfigs: [],
    clusters: [],
    endpoints: [],
    secrets: [],
  };
  docs.forEach((doc, i) => {
    const parsed = parseResourceJson(doc, `fixture[${i}]`);
    if (!parsed.ok) assert.fail(`fixture does not decode: ${parsed.errors.join('; ')}`);
    const kind = parsed.value.type.kind;
    if (kind === 'XdsAccessPolicy' || kind === 'AcmeCertificate' || kind === 'RateLimitPolicy')
      assert.fail(`${kind} resources are not translated`);
    out[KIND_TO_FIELD[kind]]!.push(parsed.value.json);
  });
  return out as unknown as XdsResources;
}

/** Indents a PEM block for a YAML literal (`|`) at the given depth. */
export function pemYaml(pem: string, indent: number): string {
  const pad = ' '.repeat(indent);
  return pem
    .trimEnd()
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}
