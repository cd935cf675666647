/**
 * Turns a request's credentials into a Caller (access.ts), the same way for the HTTP and the gRPC
 * management API (docs/architecture.md, "API authentication and roles"):
 *   1. a bearer token: the bootstrap token (FERRY_API_TOKEN, an admin) or a stored API token;
 *   2. else a client certificate the TLS layer verified against --api-client-ca, bound to a role
 *      by a stored binding naming one of its identities;
 *   3. else, only while no token exists, no bootstrap token is set, no client CA is configured and
 *      every API listener is bound to loopback: the open development mode (an admin named
 *      "loopback"), so `make run` needs no setup. Once the first token exists, every request needs
 *      credentials.
 * Anything else is FERRY_UNAUTHORIZED with what to do.
 */
import { timingSafeEqual } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { ALL_GROUPS, type Caller } from './access.js';
import { sha256, unauthorized, type ApiTokens } from './api-tokens.js';

export interface Credentials {
  /** The value of `Authorization` (HTTP) or of the `authorization` metadata (gRPC). */
  readonly authorization?: string;
  /** A client certificate (DER) that the TLS layer verified against the client CA. */
  readonly verifiedCertificate?: Buffer;
}

export interface AuthenticatorOptions {
  readonly tokens: ApiTokens;
  /** FERRY_API_TOKEN: an admin token that lives outside the store, to create the first tokens. */
  readonly bootstrapToken?: string;
  /**
   * Whether requests without credentials may act as the loopback admin while no token exists.
   * The caller sets it only when every API listener is bound to loopback and no client CA is used.
   */
  readonly openOnLoopback: boolean;
}

export const BOOTSTRAP_CALLER: Caller = {
  name: 'FERRY_API_TOKEN',
  role: 'admin',
  groups: [ALL_GROUPS],
  via: 'bootstrap token',
};

export const LOOPBACK_CALLER: Caller = {
  name: 'loopback',
  role: 'admin',
  groups: [ALL_GROUPS],
  via: 'loopback',
};

export class Authenticator {
  private readonly tokens: ApiTokens;
  private readonly bootstrapDigest: Buffer | undefined;
  private readonly openOnLoopback: boolean;

  constructor(options: AuthenticatorOptions) {
    this.tokens = options.tokens;
    this.bootstrapDigest = options.bootstrapToken ? sha256(options.bootstrapToken) : undefined;
    this.openOnLoopback = options.openOnLoopback && this.bootstrapDigest === undefined;
  }

  /** Whether requests without credentials may be let in while no token exists. */
  get allowsOpenMode(): boolean {
    return this.openOnLoopback;
  }

  /** True when no credential is needed now (the open mode is allowed and no token exists). */
  async isOpen(): Promise<boolean> {
    return this.openOnLoopback && !(await this.tokens.any());
  }

  async authenticate(credentials: Credentials): Promise<Caller> {
    const header = credentials.authorization;
    if (header !== undefined && header !== '') {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match?.[1]) throw unauthorized('the Authorization header is not "Bearer <token>"');
      const token = match[1];
      // Digests have one length, so the comparison takes the same time whatever was sent.
      if (this.bootstrapDigest && timingSafeEqual(sha256(token), this.bootstrapDigest))
        return BOOTSTRAP_CALLER;
      return this.tokens.verify(token);
    }
    if (credentials.verifiedCertificate) {
      return this.tokens.verifyCertificate(certificateIdentities(credentials.verifiedCertificate));
    }
    if (await this.isOpen()) return LOOPBACK_CALLER;
    throw unauthorized('this request has no credentials and this control plane requires them');
  }
}

/** A certificate's identities, most specific first: URI SANs, DNS SANs, e-mail SANs, subject CN. */
export function certificateIdentities(der: Buffer): string[] {
  const cert = new X509Certificate(der);
  const byKind = new Map<string, string[]>();
  // Node writes "DNS:a, URI:b", quoting (as JSON strings) values with special characters.
  for (const m of (cert.subjectAltName ?? '').matchAll(
    /(DNS|URI|email):("(?:[^"\\]|\\.)*"|[^,]*)/g,
  )) {
    const kind = m[1] as string;
    const raw = (m[2] ?? '').trim();
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    const list = byKind.get(kind) ?? [];
    list.push(value);
    byKind.set(kind, list);
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return [
    ...(byKind.get('URI') ?? []),
    ...(byKind.get('DNS') ?? []),
    ...(byKind.get('email') ?? []),
    ...(cn ? [cn] : []),
  ];
}
