/**
 * Envoy's RateLimitService (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`,
 * rls.proto) served on the xDS gRPC server: same port, same TLS and admission as xDS
 * (docs/architecture.md, "Fleet-wide rate limits").
 *
 * Which limits answer a call: the RateLimitPolicy with the call's `domain` in the caller's group.
 * The group is the call's `x-ferry-group` metadata (Envoy: `grpc_service.initial_metadata`;
 * ferry-proxy sends its node's group); under client certificates the admission interceptor has
 * checked that the identity may act for that group (absent: group "default", as for a node
 * without `cluster`). Without client certificates and without the metadata, the one group
 * holding a policy for the domain answers; a domain defined in several groups then needs the
 * metadata (FAILED_PRECONDITION says so). An unknown domain limits nothing, as with
 * envoyproxy/ratelimit.
 *
 * Replicas: every descriptor's counter has one owner among the live replicas (rls-membership.ts);
 * a call's descriptors owned elsewhere are forwarded, grouped per owner, with the same method and
 * `x-ferry-rls-forwarded` so the owner counts them itself. When the owner cannot be reached within
 * FORWARD_TIMEOUT_MS the replica counts them locally (the limit then holds per replica until the
 * membership drops the unreachable one, within three refreshes).
 */
import {
  credentials,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import type { LiteServiceImplementation } from '../grpc-lite/server-call.js';
import { GrpcClient } from '@ferry/proto/grpc';
import type { Logger } from '@ferry/shared';
import type { RateLimitPolicies } from './rate-limit-policies.js';
import {
  count,
  decisionOf,
  notLimited,
  type Decision,
  type DescriptorStatus,
  type RequestDescriptor,
} from './rate-limiter.js';
import type { RlsMember, RlsMembership } from './rls-membership.js';
import { WindowCounters } from './window-counters.js';
import { rateLimitMetrics, type RateLimitMetrics } from '../metrics/ratelimit-metrics.js';

export const RLS_SERVICE = 'envoy.service.ratelimit.v3.RateLimitService';
export const RLS_METHOD_PATH = `/${RLS_SERVICE}/ShouldRateLimit`;
/** Metadata naming the caller's group. */
export const GROUP_METADATA = 'x-ferry-group';
/** Metadata marking a call one replica forwarded to the owner of its descriptors. */
export const FORWARDED_METADATA = 'x-ferry-rls-forwarded';
const FORWARD_TIMEOUT_MS = 250;
const SWEEP_INTERVAL_MS = 1000;
const LOG_INTERVAL_MS = 10_000;

export interface RateLimitRequestMessage {
  domain?: string;
  descriptors?: readonly RequestDescriptor[];
  hits_addend?: number;
}

export interface RateLimitResponseMessage {
  overall_code: 'OK' | 'OVER_LIMIT';
  statuses: DescriptorStatus[];
}

export interface RlsServiceOptions {
  readonly policies: RateLimitPolicies;
  readonly membership: RlsMembership;
  readonly logger: Logger;
  /** Whether calls are admitted by client certificate (then the group is never guessed). */
  readonly authenticated: boolean;
  /** Clock (tests). */
  readonly now?: () => number;
  /** Where counters go (default: the process registry that `GET /metrics` serves). */
  readonly metrics?: RateLimitMetrics;
  /** Bound on live counters (default DEFAULT_MAX_COUNTERS). */
  readonly maxCounters?: number;
  /** How to reach the other replicas (default: plaintext). */
  readonly peerCredentials?: PeerCredentials;
}

/** The channel credentials and options of forwarded calls (TLS: rls-peer-credentials.ts). */
export interface PeerCredentials {
  readonly credentials: ChannelCredentials;
  readonly options?: ChannelOptions;
}

export class RlsService {
  readonly counters: WindowCounters;
  readonly #options: RlsServiceOptions;
  readonly #now: () => number;
  readonly #peers = new Map<string, GrpcClient>();
  readonly #sweep: NodeJS.Timeout;
  readonly #metrics: RateLimitMetrics;
  #lastForwardLog = 0;
  #peerCredentials: PeerCredentials;

  constructor(options: RlsServiceOptions) {
    this.#options = options;
    this.counters = new WindowCounters(options.maxCounters);
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ?? rateLimitMetrics();
    this.#peerCredentials = options.peerCredentials ?? {
      credentials: credentials.createInsecure(),
    };
    this.#metrics.replicas.set(options.membership.members().length);
    this.#sweep = setInterval(() => {
      this.counters.sweep(this.#now());
      this.#metrics.counters.set(this.counters.size);
    }, SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  implementation(): LiteServiceImplementation {
    return {
      ShouldRateLimit: (call, callback) => {
        this.shouldRateLimit(call.request as RateLimitRequestMessage, call.metadata).then(
          (response) => {
            this.#metrics.checks(response.overall_code).inc();
            callback(null, response);
          },
          (err: Partial<ServiceError>) => {
            this.#metrics.checks('error').inc();
            callback(err);
          },
        );
      },
    };
  }

  /** Drops counters this replica no longer owns and channels to replicas that left. */
  membershipChanged(members: readonly RlsMember[]): void {
    this.#metrics.replicas.set(members.length);
    const membership = this.#options.membership;
    for (const key of this.counters.keys())
      if (membership.owner(key).id !== membership.self.id) this.counters.delete(key);
    const live = new Set(members.map((m) => m.address));
    for (const [address, client] of this.#peers) {
      if (live.has(address)) continue;
      client.close();
      this.#peers.delete(address);
    }
  }

  /** New credentials for forwarded calls (files re-read): open channels close, new ones use them. */
  setPeerCredentials(peerCredentials: PeerCredentials): void {
    this.#peerCredentials = peerCredentials;
    for (const client of this.#peers.values()) client.close();
    this.#peers.clear();
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const client of this.#peers.values()) client.close();
    this.#peers.clear();
  }

  /** Decides a call; rejects with a gRPC status for calls that cannot be answered. */
  async shouldRateLimit(
    request: RateLimitRequestMessage,
    metadata: Metadata,
  ): Promise<RateLimitResponseMessage> {
    const domain = request.domain ?? '';
    if (domain === '') throw rpcError(status.INVALID_ARGUMENT, 'RateLimitRequest.domain: required');
    const group = this.#group(domain, metadata);
    const policy = this.#options.policies.lookup(group, domain);
    const hits = request.hits_addend || 1;
    const descriptors = request.descriptors ?? [];
    const forwarded = metadata.get(FORWARDED_METADATA).length > 0;
    if (forwarded) this.#metrics.forwardedIn.inc();
    const membership = this.#options.membership;
    const now = this.#now();
    const statuses: DescriptorStatus[] = new Array<DescriptorStatus>(descriptors.length);
    let remote: Map<RlsMember, number[]> | undefined;
    for (let i = 0; i < descriptors.length; i++) {
      const decision = decisionOf(group, policy, descriptors[i]!);
      if (typeof decision === 'string')
        throw rpcError(status.INVALID_ARGUMENT, `RateLimitRequest.descriptors[${i}]: ${decision}`);
      if (decision === undefined) {
        statuses[i] = notLimited();
        continue;
      }
      const owner = forwarded ? membership.self : membership.owner(decision.key);
      if (owner.id === membership.self.id) {
        statuses[i] = this.#count(decision, hits, now);
        continue;
      }
      remote ??= new Map();
      let list = remote.get(owner);
      if (!list) remote.set(owner, (list = []));
      list.push(i);
    }
    if (remote) {
      await Promise.all(
        [...remote].map(([owner, indexes]) =>
          this.#forward(owner, group, request, indexes, statuses, hits),
        ),
      );
    }
    let overall: 'OK' | 'OVER_LIMIT' = 'OK';
    for (const s of statuses) if (s.code === 'OVER_LIMIT') overall = 'OVER_LIMIT';
    return { overall_code: overall, statuses };
  }

  /** Counts locally; full counters refuse the call (the proxy's failure mode decides). */
  #count(decision: Decision, hits: number, now: number): DescriptorStatus {
    const counted = count(this.counters, decision, hits, now);
    if (counted) return counted;
    throw rpcError(
      status.RESOURCE_EXHAUSTED,
      `rate limit counters are full (${this.counters.maxKeys} live keys on this replica): a new key cannot be counted until windows end; look for a rule keyed on an unbounded value`,
    );
  }

  #group(domain: string, metadata: Metadata): string {
    const stated = metadata.get(GROUP_METADATA)[0];
    if (typeof stated === 'string' && stated !== '') return stated;
    if (this.#options.authenticated) return 'default';
    const groups = this.#options.policies.groupsWithDomain(domain);
    if (groups.length <= 1) return groups[0] ?? 'default';
    throw rpcError(
      status.FAILED_PRECONDITION,
      `rate limit domain ${JSON.stringify(domain)} is defined in groups ${groups.map((g) => JSON.stringify(g)).join(', ')}: send the caller's group in the ${GROUP_METADATA} metadata (grpc_service.initial_metadata)`,
    );
  }

  async #forward(
    owner: RlsMember,
    group: string,
    request: RateLimitRequestMessage,
    indexes: readonly number[],
    statuses: DescriptorStatus[],
    hits: number,
  ): Promise<void> {
    const descriptors = request.descriptors ?? [];
    const metadata = new Metadata();
    metadata.set(GROUP_METADATA, group);
    metadata.set(FORWARDED_METADATA, '1');
    try {
      const response = await this.#peer(owner.address).unary<
        RateLimitRequestMessage,
        { statuses?: DescriptorStatus[] }
      >(
        'ShouldRateLimit',
        {
          domain: request.domain ?? '',
          descriptors: indexes.map((i) => descriptors[i]!),
          hits_addend: hits,
        },
        metadata,
        { deadline: Date.now() + FORWARD_TIMEOUT_MS },
      );
      this.#metrics.forwardedOut('ok').inc(indexes.length);
      const answered = response.statuses ?? [];
      indexes.forEach((index, j) => {
        statuses[index] = normalize(answered[j]);
      });
    } catch (err) {
      this.#metrics.forwardedOut('failed').inc(indexes.length);
      const now = this.#now();
      if (now - this.#lastForwardLog >= LOG_INTERVAL_MS) {
        this.#lastForwardLog = now;
        this.#options.logger.warn(
          { owner: owner.id, address: owner.address, err: (err as Error).message },
          'rate limit counter owner unreachable: counting its descriptors on this replica until the membership drops it',
        );
      }
      const policy = this.#options.policies.lookup(group, request.domain ?? '');
      for (const index of indexes) {
        const decision = decisionOf(group, policy, descriptors[index]!) as Decision | undefined;
        statuses[index] = decision ? this.#count(decision, hits, now) : notLimited();
      }
    }
  }

  #peer(address: string): GrpcClient {
    let client = this.#peers.get(address);
    if (!client) {
      client = new GrpcClient(
        RLS_SERVICE,
        address,
        this.#peerCredentials.credentials,
        this.#peerCredentials.options,
      );
      this.#peers.set(address, client);
    }
    return client;
  }
}

/** A status as proto-loader decodes it (defaults off: absent fields) in the shape we send. */
function normalize(s: DescriptorStatus | undefined): DescriptorStatus {
  if (!s) return notLimited();
  return {
    ...s,
    code: s.code === 'OVER_LIMIT' ? 'OVER_LIMIT' : 'OK',
    limit_remaining: s.limit_remaining ?? 0,
  };
}

/** A call that cannot be answered: the server sends `code` and `details` as the call's status. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
  }
}

function rpcError(code: status, details: string): RpcError {
  return new RpcError(code, details);
}
