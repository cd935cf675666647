/**
 * Admission of xDS calls (docs/architecture.md, "Who may connect"): the gate of the xDS server's
 * gRPC server (../grpc-lite/server-call.ts, `LiteCallGate`), in front of every service, so that
 * no stream type can be forgotten. Installed only when the server requires client certificates;
 * then
 * - ADS (SotW and delta), the per-type services, HDS and LRS: the node in a call's first message
 *   (absent = id "" in group "default", as the streams read it) must be admitted by the
 *   AccessPolicy for the identity of the connection's certificate, before any handler sees the
 *   message; a later message naming another node or group ends the call;
 * - RLS (ShouldRateLimit) carries no node: the group is the call's `x-ferry-group` metadata and
 *   the node id its `x-ferry-node` metadata (absent: group "default", node ""), admitted the same
 *   way before the handler reads them (../ratelimit/rls-service.ts); a call another replica
 *   forwarded to a counter's owner (`x-ferry-rls-forwarded` metadata) acts for any group, so it
 *   is admitted only from identities matching `--xds-admin-san` (the replicas' own certificates)
 *   and refused with PERMISSION_DENIED from any other, so that a proxy cannot set the metadata
 *   to skip its group check;
 * - CSDS: only identities matching `--xds-admin-san`;
 * - refused calls end with PERMISSION_DENIED (UNAUTHENTICATED without a verified certificate), a
 *   message naming the identity, group and what to do; each refusal is logged once
 *   (`event: "xds_access_refused"`) and counted in `ferry_xds_access_refused_total{reason}`;
 * - when a group's stored policies change, the group's open calls are checked again and the ones
 *   no longer admitted end with PERMISSION_DENIED (reason "revoked").
 * Only the first message of a call and messages carrying a node are inspected; the per-message
 * cost otherwise is one property read. Refusals are always counted; their log lines are capped at
 * LOG_LIMIT_PER_SECOND so that a client retrying in a loop cannot flood the log (the next line
 * logged says how many were left out).
 */
import { status, type Metadata } from '@grpc/grpc-js';
import { subjectAltNames, type Logger } from '@ferry/shared';
import type { MetricChild } from '../metrics/registry.js';
import type { LiteAuthContext, LiteCallGate, LiteStatus } from '../grpc-lite/server-call.js';
import type { AccessPolicy } from './access-policy.js';
import { groupOf } from './fleet.js';

export type RefusalReason =
  'no_identity' | 'group' | 'node_changed' | 'admin' | 'forwarded' | 'revoked';

export interface AdmissionOptions {
  readonly policy: AccessPolicy;
  readonly logger: Logger;
  /** The refusal counter's child for a reason. */
  readonly refused: (reason: RefusalReason | 'handshake') => MetricChild;
}

const LOG_LIMIT_PER_SECOND = 20;
const CSDS_PREFIX = '/envoy.service.status.v3.ClientStatusDiscoveryService/';
const HDS_PREFIX = '/envoy.service.health.v3.HealthDiscoveryService/';
const RLS_PREFIX = '/envoy.service.ratelimit.v3.RateLimitService/';
/** rls-service.ts's FORWARDED_METADATA (not imported: admission does not depend on the service). */
const RLS_FORWARDED = 'x-ferry-rls-forwarded';
const WHAT_TO_DO =
  'give the proxy a client certificate whose SAN the policy admits to this group, or admit the identity with --xds-group-from-san or an XdsAccessPolicy applied to the group (docs/architecture.md, "Who may connect")';

interface NodeClaim {
  readonly group: string;
  readonly id: string;
}

/** What admission reads of a call (a grpc-lite server call). */
export interface AdmissionCall {
  readonly metadata: Metadata;
  gateState: unknown;
  getPath(): string;
  getPeer(): string;
  getAuthContext(): LiteAuthContext;
  sendStatus(outcome: LiteStatus): void;
}

/** Which checks a call's messages get: by its service (xDS, HDS, RLS) ... */
const XDS = 0;
const HDS = 1;
const RLS = 2;
/** ... or none, the identity checked at open being all: CSDS, and RLS forwarded by a replica. */
const IDENTITY_ONLY = 3;

/** Admission's state of one call, kept on the call (`gateState`). */
interface CallState {
  readonly kind: typeof XDS | typeof HDS | typeof RLS | typeof IDENTITY_ONLY;
  readonly sans: readonly string[];
  /** RLS: the node of the call's metadata. */
  readonly claim: NodeClaim | undefined;
  /** Set once the first message is admitted, until the call ends. */
  entry: AdmittedCall | undefined;
}

interface AdmittedCall {
  readonly call: AdmissionCall;
  readonly sans: readonly string[];
  readonly claim: NodeClaim;
  readonly method: string;
}

export class Admission implements LiteCallGate {
  private readonly policy: AccessPolicy;
  private readonly logger: Logger;
  private readonly refused: AdmissionOptions['refused'];
  /** Open, admitted calls by group, re-checked when the group's policies change. */
  private readonly admitted = new Map<string, Set<AdmittedCall>>();
  private logWindowStart = 0;
  private loggedInWindow = 0;
  private notLogged = 0;

  constructor(options: AdmissionOptions) {
    this.policy = options.policy;
    this.logger = options.logger;
    this.refused = options.refused;
  }

  /** Counts and logs a TLS handshake the server refused (no or untrusted client certificate). */
  handshakeRefused(peer: string, error: Error): void {
    this.refused('handshake').inc();
    this.log(
      { event: 'xds_access_refused', reason: 'handshake', peer, error: error.message },
      'xDS TLS handshake refused: the client sent no certificate or one the --xds-client-ca does not sign',
    );
  }

  /** Logs a refusal unless LOG_LIMIT_PER_SECOND lines were already logged this second. */
  private log(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.logWindowStart >= 1000) {
      this.logWindowStart = now;
      this.loggedInWindow = 0;
    }
    if (this.loggedInWindow >= LOG_LIMIT_PER_SECOND) {
      this.notLogged += 1;
      return;
    }
    this.loggedInWindow += 1;
    const omitted = this.notLogged;
    this.notLogged = 0;
    this.logger.warn(omitted > 0 ? { ...fields, refusals_not_logged: omitted } : fields, message);
  }

  /** Re-checks the open calls of `groups` (their stored policies changed). */
  recheck(groups: ReadonlySet<string>): void {
    for (const group of groups) {
      for (const entry of [...(this.admitted.get(group) ?? [])]) {
        const verdict = this.policy.admit(entry.sans, group, entry.claim.id);
        if (verdict.ok) continue;
        this.forget(entry);
        this.refuse(entry.call, entry.method, 'revoked', entry.sans, entry.claim, verdict.reason);
      }
    }
  }

  /** Runs before the handler: the checks that need only the connection and the metadata. */
  open(call: AdmissionCall): void {
    const path = call.getPath();
    const kind = path.startsWith(CSDS_PREFIX)
      ? IDENTITY_ONLY
      : path.startsWith(HDS_PREFIX)
        ? HDS
        : path.startsWith(RLS_PREFIX)
          ? RLS
          : XDS;
    const sans = identitiesOf(call);
    if (sans.length === 0) return this.refuse(call, path, 'no_identity', sans, undefined, '');
    if (kind === IDENTITY_ONLY) {
      if (!this.policy.isAdmin(sans)) return this.refuse(call, path, 'admin', sans, undefined, '');
      call.gateState = { kind, sans, claim: undefined, entry: undefined };
      return;
    }
    let claim: NodeClaim | undefined;
    let replica = false;
    if (kind === RLS) {
      const metadata = call.metadata;
      if (metadata.get(RLS_FORWARDED).length > 0) {
        if (!this.policy.isAdmin(sans)) {
          return this.refuse(call, path, 'forwarded', sans, undefined, '');
        }
        replica = true;
      } else {
        const group = metadata.get('x-ferry-group')[0];
        const node = metadata.get('x-ferry-node')[0];
        claim = {
          group: typeof group === 'string' && group !== '' ? group : 'default',
          id: typeof node === 'string' ? node : '',
        };
      }
    }
    const state: CallState = {
      kind: replica ? IDENTITY_ONLY : kind,
      sans,
      claim,
      entry: undefined,
    };
    call.gateState = state;
  }

  /** Runs before the handler sees each message: admits the first, checks later nodes. */
  message(call: AdmissionCall, message: unknown): boolean {
    const state = call.gateState as CallState | undefined;
    // Refused at open: the call has ended.
    if (state === undefined) return false;
    if (state.kind === IDENTITY_ONLY) return true;
    const node = state.kind === RLS ? state.claim : nodeOf(state.kind === HDS, message);
    const path = call.getPath();
    if (state.entry !== undefined) {
      if (node === undefined || sameClaim(node, state.entry.claim)) return true;
      this.forget(state.entry);
      state.entry = undefined;
      this.refuse(call, path, 'node_changed', state.sans, node, '');
      return false;
    }
    const claim = node ?? { group: 'default', id: '' };
    const verdict = this.policy.admit(state.sans, claim.group, claim.id);
    if (!verdict.ok) {
      this.refuse(call, path, 'group', state.sans, claim, verdict.reason);
      return false;
    }
    state.entry = { call, sans: state.sans, claim, method: path };
    let set = this.admitted.get(claim.group);
    if (!set) this.admitted.set(claim.group, (set = new Set()));
    set.add(state.entry);
    return true;
  }

  /** The call ended: it is no longer re-checked. */
  ended(call: AdmissionCall): void {
    const state = call.gateState as CallState | undefined;
    if (state?.entry === undefined) return;
    this.forget(state.entry);
    state.entry = undefined;
  }

  private forget(entry: AdmittedCall): void {
    const set = this.admitted.get(entry.claim.group);
    if (!set?.delete(entry)) return;
    if (set.size === 0) this.admitted.delete(entry.claim.group);
  }

  private refuse(
    call: AdmissionCall,
    method: string,
    reason: RefusalReason,
    sans: readonly string[],
    claim: NodeClaim | undefined,
    policyReason: string,
  ): void {
    this.refused(reason).inc();
    const identity = sans.length > 0 ? sans.join(', ') : '(none)';
    let details: string;
    switch (reason) {
      case 'no_identity':
        details = `xDS access denied: the client certificate has no SAN URI or DNS name to identify the proxy; issue it one (e.g. URI spiffe://ferry/group/GROUP/node/NODE)`;
        break;
      case 'admin':
        details = `xDS access denied: identity ${identity} may not read client status (CSDS); it is served to identities matching --xds-admin-san only`;
        break;
      case 'forwarded':
        details = `xDS access denied: identity ${identity} may not send rate limit checks forwarded by a control-plane replica (${RLS_FORWARDED}); they are accepted from identities matching --xds-admin-san only: give each replica an xDS certificate whose SAN matches it`;
        break;
      case 'node_changed':
        details = `xDS access denied: identity ${identity} changed its node to "${claim?.id}" in group "${claim?.group}" within one call; a call keeps the node of its first message`;
        break;
      default:
        details = `xDS access denied: identity ${identity} may not join group "${claim?.group}" as node "${claim?.id}" (${policyReason}${reason === 'revoked' ? "; the group's access policy changed" : ''}); ${WHAT_TO_DO}`;
    }
    this.log(
      {
        event: 'xds_access_refused',
        reason,
        identity: sans,
        group: claim?.group,
        node: claim?.id,
        method,
        peer: call.getPeer(),
      },
      details,
    );
    call.sendStatus({
      code: reason === 'no_identity' ? status.UNAUTHENTICATED : status.PERMISSION_DENIED,
      details,
    });
  }
}

/**
 * The node a message claims: HDS carries it in `health_check_request`, every other service at the
 * top level. Undefined when the message has none (not the first message of a stream, usually).
 */
function nodeOf(isHds: boolean, message: unknown): NodeClaim | undefined {
  const holder = isHds
    ? (message as { health_check_request?: { node?: unknown } } | null)?.health_check_request
    : message;
  const node = (holder as { node?: { id?: unknown; cluster?: unknown } } | null | undefined)?.node;
  if (!node || typeof node !== 'object') return undefined;
  const cluster = typeof node.cluster === 'string' ? node.cluster : '';
  return { group: groupOf({ cluster }), id: typeof node.id === 'string' ? node.id : '' };
}

/**
 * The identity of the connection's verified client certificate: its SAN URIs and DNS names
 * (other SAN kinds never identify a proxy); empty without a verified certificate.
 */
function identitiesOf(call: AdmissionCall): string[] {
  const names = subjectAltNames(call.getAuthContext().sslPeerCertificate?.subjectaltname);
  return names.filter((n) => n.type === 'URI' || n.type === 'DNS').map((n) => n.value);
}

function sameClaim(a: NodeClaim, b: NodeClaim): boolean {
  return a.group === b.group && a.id === b.id;
}
