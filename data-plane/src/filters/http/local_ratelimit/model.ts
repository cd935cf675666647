/**
 * What envoy.filters.http.local_ratelimit's config factory (config.ts) hands the workers'
 * filters (local-ratelimit-filter.ts): LocalRateLimit with Envoy's defaults applied.
 */
import type { FractionalPercentModel, HeaderValueOptionModel } from '../../../config/model.js';
import type { TokenBucketSpec } from '../../../rate-limit/token-bucket.js';
import type { VhRateLimitsOption } from '../../../router/rate-limit-descriptors.js';

/** A LocalRateLimitDescriptor: its entries (exact values) and its own bucket. */
export interface LocalRateLimitDescriptorModel {
  readonly entries: readonly { readonly key: string; readonly value: string }[];
  readonly tokenBucket: TokenBucketSpec;
}

/** LocalRateLimit with Envoy's defaults applied (the filter config and the per-route config). */
export interface LocalRateLimitModel {
  readonly statPrefix: string;
  /** status (default 429; codes below 400 become 429, as Envoy's toErrorCode). */
  readonly status: number;
  /** token_bucket: the default bucket (absent: requests no descriptor matches are allowed). */
  readonly tokenBucket?: TokenBucketSpec;
  /** filter_enabled / filter_enforced (absent: 0%, as Envoy). */
  readonly filterEnabled: FractionalPercentModel;
  readonly filterEnforced: FractionalPercentModel;
  readonly requestHeadersToAddWhenNotEnforced: readonly HeaderValueOptionModel[];
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly descriptors: readonly LocalRateLimitDescriptorModel[];
  readonly stage: number;
  readonly perConnection: boolean;
  /** enable_x_ratelimit_headers DRAFT_VERSION_03. */
  readonly xRateLimitHeaders: boolean;
  readonly vhRateLimits: VhRateLimitsOption;
  /** always_consume_default_token_bucket (default true). */
  readonly alwaysConsumeDefaultTokenBucket: boolean;
  /** rate_limited_as_resource_exhausted: gRPC replies carry RESOURCE_EXHAUSTED (8). */
  readonly rateLimitedAsResourceExhausted: boolean;
  /** The identity of this config's buckets (its place in the resource and its content). */
  readonly bucketId: string;
}
