/**
 * GET /v1/certificates (management API) and `ferryctl certs`: every AcmeCertificate with its
 * ordering state, and every certificate held in a stored Secret, per group. Read from the store,
 * so every replica answers the same, whichever holds the ordering lease.
 */
import { ACME_CERTIFICATE_TYPE } from '@ferry/proto';
import type { ResourceStore } from '../store/store.js';
import { ACME_STATE_TYPE, decodeAcmeState, EMPTY_STATE } from './acme-records.js';
import { acmeSpecOf } from './acme-spec.js';
import { SECRET_TYPE, leafInfo, secretChainPem } from './certificate-info.js';
import type {
  AcmeCertificateStatusJson,
  CertificatesJson,
  SecretCertificateJson,
} from '@ferry/shared/api-wire';

export type {
  AcmeCertificateStatusJson,
  CertificatesJson,
  SecretCertificateJson,
} from '@ferry/shared/api-wire';

const DAY_MS = 86_400_000;

/**
 * Certificates of `group` (every group when undefined), only in groups `readable` allows (the
 * caller's role: reads are filtered, not refused).
 */
export async function certificatesStatus(
  store: ResourceStore,
  group?: string,
  readable: (group: string) => boolean = () => true,
  now = Date.now(),
): Promise<CertificatesJson> {
  const filter = group ? { group } : {};
  const [certificates, states, secrets] = await Promise.all([
    store.list({ ...filter, typeUrl: ACME_CERTIFICATE_TYPE.typeUrl }),
    store.list({ ...filter, typeUrl: ACME_STATE_TYPE }),
    store.list({ typeUrl: SECRET_TYPE.typeUrl }),
  ]);
  const stateByKey = new Map(states.resources.map((r) => [`${r.group}/${r.name}`, r]));
  const producer = new Map<string, string>();
  const acme_certificates: AcmeCertificateStatusJson[] = [];
  for (const r of certificates.resources) {
    const spec = acmeSpecOf(r.group, r.name, r.value, r.version);
    for (const g of spec.groups) producer.set(`${g}/${spec.secretName}`, `${r.group}/${r.name}`);
    if (!readable(r.group)) continue;
    const stored = stateByKey.get(`${r.group}/${r.name}`);
    const state = stored ? decodeAcmeState(stored.value) : EMPTY_STATE;
    // A state written for an older version of the spec says nothing about this one yet.
    const current = state.specVersion === spec.version;
    acme_certificates.push({
      group: r.group,
      name: r.name,
      domains: [...spec.domains],
      groups: [...spec.groups],
      secret_name: spec.secretName,
      directory_url: spec.directoryUrl,
      status: current ? state.status : 'PENDING',
      serial: state.serial,
      not_after: state.notAfter,
      renew_at: current ? state.renewAt : '',
      last_error: state.lastError,
      failures: state.failures,
      next_attempt_at: state.nextAttemptAt,
      order_url: state.orderUrl,
      updated_at: state.updatedAt,
      replica: state.replica,
    });
  }
  const secretRows: SecretCertificateJson[] = [];
  for (const s of secrets.resources) {
    if ((group && s.group !== group) || !readable(s.group)) continue;
    const chain = secretChainPem(s.value);
    const info = chain ? leafInfo(chain) : undefined;
    if (!info) continue;
    secretRows.push({
      group: s.group,
      name: s.name,
      subject: info.subject,
      dns_names: [...info.dnsNames],
      issuer: info.issuer,
      serial: info.serial,
      not_before: new Date(info.notBefore).toISOString(),
      not_after: new Date(info.notAfter).toISOString(),
      days_left: Math.floor((info.notAfter - now) / DAY_MS),
      acme_certificate: producer.get(`${s.group}/${s.name}`) ?? '',
    });
  }
  return { acme_certificates, secrets: secretRows };
}
