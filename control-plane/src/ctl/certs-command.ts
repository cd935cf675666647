/**
 * `ferryctl certs`: the ACME certificates the control plane orders (state, expiry, next renewal,
 * last error) and every certificate held in a stored Secret, per group, with days to expiry and
 * a warning for those under `--warn-days` (default 21).
 */
import type { CertificatesJson } from '@ferry/shared/api-wire';
import type { ApiClient } from './api-client.js';
import type { ParsedArgs } from './args.js';
import type { Output } from './output.js';
import { table } from './format.js';

export const DEFAULT_WARN_DAYS = 21;

export async function certs(args: ParsedArgs, client: ApiClient, io: Output): Promise<void> {
  const response = await client.get<CertificatesJson>('/v1/certificates', {
    group: args.options.group,
  });
  const warnDays = args.options.warnDays ?? DEFAULT_WARN_DAYS;
  const expiring = response.secrets.filter((s) => s.days_left < warnDays);
  if (args.options.output === 'json') {
    io.out(JSON.stringify({ ...response, warn_days: warnDays }, null, 2) + '\n');
    return;
  }
  if (response.acme_certificates.length > 0) {
    io.out('ACME certificates:\n');
    io.out(
      table(
        [
          'GROUP',
          'NAME',
          'DOMAINS',
          'SECRET',
          'STATUS',
          'SERIAL',
          'EXPIRES',
          'RENEWS',
          'LAST ERROR',
        ],
        response.acme_certificates.map((c) => [
          c.group,
          c.name,
          c.domains.join(','),
          `${c.groups.join(',')}/${c.secret_name}`,
          c.status === 'FAILED' && c.next_attempt_at
            ? `FAILED (${c.failures}x, retry ${c.next_attempt_at})`
            : c.status,
          c.serial || '-',
          c.not_after || '-',
          c.renew_at || '-',
          c.last_error || '-',
        ]),
      ),
    );
    io.out('\n');
  }
  if (response.secrets.length === 0) {
    io.out('no certificates in stored Secrets\n');
    return;
  }
  io.out('certificates in Secrets:\n');
  io.out(
    table(
      ['GROUP', 'SECRET', 'SUBJECT', 'SANS', 'EXPIRES', 'DAYS', 'ACME'],
      response.secrets.map((s) => [
        s.group,
        s.name,
        s.subject,
        s.dns_names.join(','),
        s.not_after,
        String(s.days_left),
        s.acme_certificate || '-',
      ]),
    ),
  );
  for (const s of expiring) {
    io.out(
      `WARNING: secret ${s.group}/${s.name} (${s.dns_names.join(',') || s.subject}) ` +
        (s.days_left < 0 ? 'has expired' : `expires in ${s.days_left} days`) +
        ` (under ${warnDays})\n`,
    );
  }
}
