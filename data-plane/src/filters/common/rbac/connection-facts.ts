/**
 * What RBAC reads of a downstream connection, computed once per connection and kept with its
 * socket: the local and peer addresses as bytes, and, on first use by an `authenticated`
 * principal, the client certificate's identities as Envoy reports them (URI SANs, DNS SANs and
 * the subject in RFC 2253 form).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseIp, type IpBytes } from '../../../listener/cidr.js';
import { unmapIpv4 } from '../../../listener/connection-properties.js';
import { parseSubjectAltNames } from '../../../upstream/upstream-san.js';

export interface PeerIdentity {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** The subject, RFC 2253 (most specific RDN first, comma-separated); "" without a certificate. */
  readonly subject: string;
}

const NO_IDENTITY: PeerIdentity = Object.freeze({ uriSans: [], dnsSans: [], subject: '' });

export class ConnectionFacts {
  /** The peer's address as text, IPv4-mapped addresses given as IPv4 (as Envoy's dual-stack). */
  readonly peerAddress: string;
  readonly peerIp: IpBytes | undefined;
  readonly localIp: IpBytes | undefined;
  readonly localPort: number;
  #identity: PeerIdentity | undefined;

  constructor(
    readonly socket: Socket,
    /** The connection is TLS (terminated by ferry-proxy). */
    readonly tls: boolean,
    /** SNI; "" when none. */
    readonly serverName: string,
  ) {
    this.peerAddress = unmapIpv4(socket.remoteAddress ?? '');
    this.peerIp = parseIp(this.peerAddress);
    this.localIp = parseIp(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
  }

  /** The client certificate's identities (read once; empty without a certificate or TLS). */
  get identity(): PeerIdentity {
    this.#identity ??= this.tls ? readIdentity(this.socket as TLSSocket) : NO_IDENTITY;
    return this.#identity;
  }
}

const factsBySocket = new WeakMap<Socket, ConnectionFacts>();

/** The facts of the connection of `socket`, computed on its first request. */
export function connectionFacts(socket: Socket, tls: boolean, serverName: string): ConnectionFacts {
  let facts = factsBySocket.get(socket);
  if (facts === undefined) {
    facts = new ConnectionFacts(socket, tls, serverName);
    factsBySocket.set(socket, facts);
  }
  return facts;
}

function readIdentity(socket: TLSSocket): PeerIdentity {
  const cert =
    typeof socket.getPeerX509Certificate === 'function'
      ? socket.getPeerX509Certificate()
      : undefined;
  if (cert === undefined) return NO_IDENTITY;
  const sans = parseSubjectAltNames(cert.subjectAltName);
  return {
    uriSans: sans.filter((s) => s.type === 'URI').map((s) => s.value),
    dnsSans: sans.filter((s) => s.type === 'DNS').map((s) => s.value),
    subject: rfc2253Subject(cert.subject),
  };
}

const RFC2253_SPECIAL = /[,+"\\<>;]/g;

/**
 * Node's X509Certificate.subject ("C=US\nO=Ferry\nCN=client", in certificate order) as
 * OpenSSL's RFC 2253 rendering Envoy uses: RDNs in reverse order, joined by ",", special
 * characters of values escaped with "\".
 */
export function rfc2253Subject(subject: string | undefined): string {
  if (subject === undefined || subject === '') return '';
  return subject
    .split('\n')
    .filter((line) => line !== '')
    .reverse()
    .map((line) => {
      const eq = line.indexOf('=');
      if (eq < 0) return line;
      const value = line.slice(eq + 1).replace(RFC2253_SPECIAL, (c) => `\\${c}`);
      return `${line.slice(0, eq)}=${value}`;
    })
    .join(',');
}
