/** Certificates: the Secrets' certificates with days to expiry and the ACME orders' state. */
import { h } from './vendor/preact.js';
import { useEffect, useState } from './vendor/preact-hooks.js';
import { ApiError, errorText } from './api.js';
import type { ViewContext } from './context.js';
import { useFeed, useTrailing } from './feed-hub.js';
import { utc } from './format.js';
import type { CertificatesJson, ListResponseJson } from './wire.js';

/** "group/secret" → the listeners and clusters whose JSON names that Secret (SDS references). */
function usage(list: ListResponseJson): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of list.resources) {
    if (r.kind !== 'Listener' && r.kind !== 'Cluster') continue;
    const names = new Set<string>();
    collectSdsNames(r.resource, names);
    for (const n of names) {
      const key = `${r.group}/${n}`;
      out.set(key, [...(out.get(key) ?? []), `${r.kind}/${r.name}`]);
    }
  }
  return out;
}

/** Names in `sds_config`-style secret references: objects with a `name` under a key ending in "secret_configs" or "sds_secret_config". */
function collectSdsNames(value: unknown, into: Set<string>, underSds = false): void {
  if (Array.isArray(value)) {
    for (const v of value) collectSdsNames(v, into, underSds);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  if (underSds && typeof obj.name === 'string') into.add(obj.name);
  for (const [k, v] of Object.entries(obj)) collectSdsNames(v, into, /secret_configs?$/.test(k));
}

export function CertificatesView({ ctx }: { ctx: ViewContext }) {
  const [certs, setCerts] = useState<CertificatesJson | undefined>(undefined);
  const [used, setUsed] = useState<Map<string, string[]>>(new Map());
  const [error, setError] = useState('');
  const load = (): void => {
    Promise.all([
      ctx.api.get<CertificatesJson>('/v1/certificates'),
      ctx.api.get<ListResponseJson>('/v1/resources'),
    ]).then(
      ([c, list]) => {
        setCerts(c);
        setUsed(usage(list));
        setError('');
      },
      (err) =>
        setError(
          err instanceof ApiError && err.status === 404
            ? 'This control plane serves no certificate view.'
            : errorText(err),
        ),
    );
  };
  useEffect(load, []);
  useFeed(ctx.hub, ['store'], useTrailing(load, 500));
  return (
    <section aria-labelledby="certs-title">
      <h1 id="certs-title">Certificates</h1>
      {error !== '' && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <h2>Certificates in Secrets</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Secret</th>
            <th scope="col">Names</th>
            <th scope="col">Issuer</th>
            <th scope="col">Expires (UTC)</th>
            <th scope="col">Days left</th>
            <th scope="col">Used by</th>
            <th scope="col">ACME</th>
          </tr>
        </thead>
        <tbody>
          {certs?.secrets.map((s) => (
            <tr key={`${s.group}/${s.name}`}>
              <td>{s.group}</td>
              <th scope="row">{s.name}</th>
              <td>{s.dns_names.join(', ')}</td>
              <td>{s.issuer}</td>
              <td>{utc(s.not_after)}</td>
              <td class={s.days_left < 14 ? 'warn' : undefined}>{s.days_left}</td>
              <td>{(used.get(`${s.group}/${s.name}`) ?? []).join(', ') || '—'}</td>
              <td>{s.acme_certificate || '—'}</td>
            </tr>
          ))}
          {certs && certs.secrets.length === 0 && (
            <tr>
              <td colSpan={8}>No certificates in Secrets.</td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>ACME orders</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Name</th>
            <th scope="col">Domains</th>
            <th scope="col">State</th>
            <th scope="col">Expires (UTC)</th>
            <th scope="col">Renews (UTC)</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {certs?.acme_certificates.map((a) => (
            <tr key={`${a.group}/${a.name}`}>
              <td>{a.group}</td>
              <th scope="row">{a.name}</th>
              <td>{a.domains.join(', ')}</td>
              <td>{a.status}</td>
              <td>{a.not_after === '' ? '—' : utc(a.not_after)}</td>
              <td>{a.renew_at === '' ? '—' : utc(a.renew_at)}</td>
              <td>{a.last_error || '—'}</td>
            </tr>
          ))}
          {certs && certs.acme_certificates.length === 0 && (
            <tr>
              <td colSpan={7}>No ACME certificates.</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
