/**
 * What envoy.filters.http.ratelimit's config factory (config.ts) hands the workers' filters
 * (ratelimit-filter.ts).
 */
import type { GrpcServiceModel } from '../../../upstream/async-grpc-client.js';
import type { VhRateLimitsOption } from '../../../router/rate-limit-descriptors.js';

export interface RateLimitFilterModel {
  readonly domain: string;
  readonly stage: number;
  readonly requestType: 'internal' | 'external' | 'both';
  readonly timeoutMs: number;
  readonly failureModeDeny: boolean;
  readonly rateLimitedAsResourceExhausted: boolean;
  readonly service: GrpcServiceModel;
  readonly xRateLimitHeaders: boolean;
  readonly disableXEnvoyRateLimitedHeader: boolean;
  readonly rateLimitedStatus: number;
  readonly statusOnError: number;
}

export interface RateLimitPerRouteModel {
  readonly vhRateLimits: VhRateLimitsOption;
  /** "" keeps the filter's domain. */
  readonly domain: string;
}

/** Envoy's default `timeout` of the filter's calls. */
export const DEFAULT_TIMEOUT_MS = 20;
