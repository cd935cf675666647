/**
 * Checks one resource on its own (no other resource needed): regexes compile as RE2, ports are in
 * range, virtual hosts of a route configuration have distinct names and domains, inline TLS
 * material parses, EDS clusters say where their endpoints come from. Returns every problem with
 * its field path relative to the resource.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { ResourceKind } from '@ferry/proto';
import { checkRe2 } from './re2.js';
import { checkAcmeCertificate } from '../acme/acme-spec.js';
import { QUORUM_METADATA_KEY, quorumSettingOf } from '../health/quorum.js';
import { HDS_METADATA_KEY, hdsSettingOf } from '../health/hds-assignment.js';
import { compilePolicy } from '../xds/access-policy.js';
import { checkRateLimitPolicy } from '../ratelimit/rate-limit-policy.js';
import {
  asArray,
  asObject,
  asString,
  forEachRouteConfig,
  join,
  walkObjects,
  type JsonObject,
} from './json-walk.js';

export function checkFields(kind: ResourceKind, json: JsonObject): string[] {
  if (kind === 'AcmeCertificate') return checkAcmeCertificate(json);
  if (kind === 'RateLimitPolicy') return checkRateLimitPolicy(json);
  const errors: string[] = [];
  walkObjects(json, '', (obj, path, parentKey) => {
    checkRegexMatcher(obj, path, parentKey, errors);
    checkPortRange(obj, path, errors);
    checkTlsCertificate(obj, path, errors);
    checkTrustedCa(obj, path, errors);
  });
  forEachRouteConfig(kind, json, (rc, path) => checkVirtualHosts(rc, path, errors));
  if (kind === 'Listener') checkListenerPorts(json, errors);
  if (kind === 'ClusterLoadAssignment') checkEndpointPorts(json, '', errors);
  if (kind === 'Cluster') checkCluster(json, errors);
  if (kind === 'XdsAccessPolicy') {
    const compiled = compilePolicy(json);
    if (!compiled.ok) errors.push(...compiled.errors);
  }
  return errors;
}

/** RegexMatcher sits under `safe_regex`, `safe_regex_match`, `pattern` (regex_rewrite), ... */
function checkRegexMatcher(
  obj: JsonObject,
  path: string,
  parentKey: string,
  errors: string[],
): void {
  const regex = asString(obj.regex);
  if (regex === undefined) return;
  if (!(
    parentKey.endsWith('regex') ||
    parentKey.endsWith('regex_match') ||
    parentKey === 'pattern' ||
    obj.google_re2
  )) {
    return;
  }
  const problem = checkRe2(regex);
  if (problem) errors.push(`${join(path, 'regex')}: ${problem}`);
}

function checkPortRange(obj: JsonObject, path: string, errors: string[]): void {
  const port = obj.port_value;
  if (typeof port === 'number' && port > 65535) {
    errors.push(`${join(path, 'port_value')}: port ${port} out of range (1..65535)`);
  }
}

/** A listener needs a real port to bind: 0 would pick a random one on every proxy. */
function checkListenerPorts(listener: JsonObject, errors: string[]): void {
  const addresses: Array<[JsonObject | undefined, string]> = [
    [asObject(listener.address), 'address'],
  ];
  asArray(listener.additional_addresses).forEach((a, i) => {
    addresses.push([asObject(asObject(a)?.address), `additional_addresses[${i}].address`]);
  });
  for (const [address, path] of addresses) requirePort(address, path, 'a listener', errors);
}

function checkEndpointPorts(cla: JsonObject, base: string, errors: string[]): void {
  asArray(cla.endpoints).forEach((locality, i) => {
    asArray(asObject(locality)?.lb_endpoints).forEach((lbEndpoint, j) => {
      const address = asObject(asObject(asObject(lbEndpoint)?.endpoint)?.address);
      requirePort(
        address,
        join(base, `endpoints[${i}].lb_endpoints[${j}].endpoint.address`),
        'an endpoint',
        errors,
      );
    });
  });
}

function requirePort(
  address: JsonObject | undefined,
  path: string,
  what: string,
  errors: string[],
): void {
  const socket = asObject(address?.socket_address);
  if (!socket || socket.named_port !== undefined) return;
  const port = socket.port_value;
  if (typeof port !== 'number' || port < 1) {
    errors.push(
      `${path}.socket_address.port_value: ${what} needs a port in 1..65535 (got ${port === undefined ? 'none' : JSON.stringify(port)})`,
    );
  }
}

function checkCluster(cluster: JsonObject, errors: string[]): void {
  if (cluster.type === 'EDS' && cluster.eds_cluster_config === undefined) {
    errors.push(
      `eds_cluster_config: required for a cluster of type EDS (e.g. {"eds_config": {"ads": {}}})`,
    );
  }
  const assignment = asObject(cluster.load_assignment);
  if (assignment) checkEndpointPorts(assignment, 'load_assignment', errors);
  const type = typeof cluster.type === 'string' ? cluster.type : 'STATIC';
  const quorum = quorumSettingOf(cluster);
  if (!quorum.ok) errors.push(...quorum.errors);
  else if (quorum.value && type !== 'EDS') {
    errors.push(
      `metadata.filter_metadata["${QUORUM_METADATA_KEY}"]: the health quorum rule marks endpoints in EDS, so the cluster must be of type EDS (it is ${type})`,
    );
  }
  const hds = hdsSettingOf(cluster);
  if (!hds.ok) errors.push(...hds.errors);
  else if (hds.value && type !== 'EDS') {
    errors.push(
      `metadata.filter_metadata["${HDS_METADATA_KEY}"]: central health checking reports through EDS, so the cluster must be of type EDS (it is ${type})`,
    );
  }
}

/** Envoy rejects a route table whose virtual hosts share a name or a domain (domains match case-insensitively). */
function checkVirtualHosts(rc: JsonObject, base: string, errors: string[]): void {
  const names = new Map<string, number>();
  const domains = new Map<string, number>();
  asArray(rc.virtual_hosts).forEach((vhValue, i) => {
    const vh = asObject(vhValue);
    const path = join(join(base, 'virtual_hosts'), i);
    const name = asString(vh?.name) ?? '';
    const firstName = names.get(name);
    if (firstName !== undefined)
      errors.push(
        `${path}.name: duplicate virtual host name "${name}" (also virtual_hosts[${firstName}])`,
      );
    else names.set(name, i);
    asArray(vh?.domains).forEach((d, k) => {
      const domain = (asString(d) ?? '').toLowerCase();
      const first = domains.get(domain);
      if (first !== undefined && first !== i) {
        errors.push(
          `${path}.domains[${k}]: domain "${domain}" is already served by virtual_hosts[${first}]`,
        );
      } else if (first === i) {
        errors.push(`${path}.domains[${k}]: domain "${domain}" is listed twice`);
      } else domains.set(domain, i);
    });
  });
}

/**
 * Inline material of a DataSource; undefined when it lives elsewhere (a file or environment
 * variable on the proxy's machine, which only the proxy can read).
 */
function inlineData(source: JsonObject | undefined): { bytes: Buffer; field: string } | undefined {
  const text = asString(source?.inline_string);
  if (text !== undefined) return { bytes: Buffer.from(text, 'utf8'), field: 'inline_string' };
  const b64 = asString(source?.inline_bytes);
  if (b64 !== undefined) return { bytes: Buffer.from(b64, 'base64'), field: 'inline_bytes' };
  return undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function parseCertificates(data: Buffer, path: string, errors: string[]): X509Certificate[] {
  const blocks = data.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    errors.push(`${path}: no PEM "CERTIFICATE" block found`);
    return [];
  }
  const certs: X509Certificate[] = [];
  blocks.forEach((block, i) => {
    try {
      certs.push(new X509Certificate(block));
    } catch (err) {
      errors.push(`${path}: certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
  return certs;
}

/** TlsCertificate: `certificate_chain` + `private_key` (Secrets and inline TLS contexts alike). */
function checkTlsCertificate(obj: JsonObject, path: string, errors: string[]): void {
  const chain = inlineData(asObject(obj.certificate_chain));
  const keySource = inlineData(asObject(obj.private_key));
  let certs: X509Certificate[] = [];
  if (chain)
    certs = parseCertificates(chain.bytes, join(path, `certificate_chain.${chain.field}`), errors);
  let key: KeyObject | undefined;
  if (keySource) {
    const keyPath = join(path, `private_key.${keySource.field}`);
    const password = inlineData(asObject(obj.password));
    try {
      key = createPrivateKey({
        key: keySource.bytes,
        format: 'pem',
        passphrase: password?.bytes.toString('utf8'),
      });
    } catch (err) {
      errors.push(`${keyPath}: not a usable PEM private key (${(err as Error).message})`);
    }
  }
  const leaf = certs[0];
  if (key && leaf && !leaf.checkPrivateKey(key)) {
    errors.push(
      `${join(path, 'private_key')}: does not match the first certificate of certificate_chain`,
    );
  }
}

function checkTrustedCa(obj: JsonObject, path: string, errors: string[]): void {
  const ca = inlineData(asObject(obj.trusted_ca));
  if (ca) parseCertificates(ca.bytes, join(path, `trusted_ca.${ca.field}`), errors);
}
