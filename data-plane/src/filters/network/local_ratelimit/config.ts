/**
 * envoy.filters.network.local_ratelimit (Envoy's network local_ratelimit.cc): each new
 * connection takes a token from the bucket; a connection that finds none is closed at once and
 * counted (network_local_rate_limit_rate_limited). The bucket is proxy-wide
 * (docs/architecture.md, "Proxy-wide rate limit buckets"); filters with the same share_key and
 * token_bucket share one bucket, as in Envoy.
 */
import type { NetworkFilter, NetworkFilterCallbacks, ReadFilterFactory } from '../filter.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  join,
  messageSpec,
  sortedKeysJson,
  str,
} from '../../../config/translate-common.js';
import { PERCENT_SPECS, runtimeFeatureFlag } from '../../http/common/fractional-percent.js';
import { TOKEN_BUCKET_SPEC, tokenBucket } from '../../../rate-limit/translate-token-bucket.js';
import type { TokenBucketSpec } from '../../../rate-limit/token-bucket.js';
import { bucketId, workerBuckets } from '../../../rate-limit/shared-bucket.js';

export interface NetworkLocalRateLimitModel {
  readonly statPrefix: string;
  readonly tokenBucket: TokenBucketSpec;
  /** runtime_enabled's default_value (default true). */
  readonly enabled: boolean;
  /** The bucket's identity: share_key and token bucket, or the filter's place and content. */
  readonly bucketId: string;
}

const SPEC = messageSpec('envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit', {
  stat_prefix: 'label of network_local_rate_limit_rate_limited',
  token_bucket: 'one token per new connection, proxy-wide (shared by all workers)',
  runtime_enabled: 'default true (no runtime: default_value applies)',
  share_key: 'filters with the same share_key and token_bucket share one bucket',
});

export const NETWORK_LOCAL_RATE_LIMIT_TYPE_URL = TYPE_URL_PREFIX + SPEC.message;

const CONTINUE = 'continue' as const;

export const networkLocalRateLimitFilter: ReadFilterFactory<NetworkLocalRateLimitModel> = {
  typeUrl: NETWORK_LOCAL_RATE_LIMIT_TYPE_URL,
  names: ['envoy.filters.network.local_ratelimit'],
  terminal: false,
  note: 'closes new connections over a token bucket shared by all workers',
  specs: [SPEC, TOKEN_BUCKET_SPEC, ...PERCENT_SPECS],
  validate(config, path, issues) {
    checkFields(config, SPEC, path, issues);
    const statPrefix = str(config.stat_prefix);
    if (statPrefix === '') issues.add(join(path, 'stat_prefix'), 'is required (non-empty)');
    const bucket = asObject(config.token_bucket);
    if (bucket === undefined) issues.add(join(path, 'token_bucket'), 'is required');
    const spec = tokenBucket(
      bucket ?? { max_tokens: 1, fill_interval: '1s' },
      join(path, 'token_bucket'),
      issues,
    );
    const shareKey = str(config.share_key);
    return {
      statPrefix,
      tokenBucket: spec,
      enabled: runtimeFeatureFlag(
        asObject(config.runtime_enabled),
        join(path, 'runtime_enabled'),
        issues,
      ),
      bucketId:
        shareKey !== ''
          ? bucketId('network share_key', shareKey, sortedKeysJson(spec))
          : bucketId(issues.label, path, sortedKeysJson(config)),
    };
  },
  createFilterFactory(config, context) {
    if (!config.enabled) {
      const pass: NetworkFilter = { onNewConnection: () => CONTINUE };
      return { create: () => pass };
    }
    const bucket = workerBuckets.bucket(config.bucketId, config.tokenBucket);
    const rateLimited = context.stats.counter('network_local_rate_limit_rate_limited', {
      listener: context.listenerName,
      stat_prefix: config.statPrefix,
    });
    const decide = (callbacks: NetworkFilterCallbacks): boolean => {
      if (bucket.consume()) return true;
      rateLimited.inc();
      callbacks.close();
      return false;
    };
    const filter: NetworkFilter = {
      onNewConnection(_connection, callbacks) {
        // A worker without stock holds the connection for its lease (rate-limit/shared-bucket.ts).
        const waiter = {
          onBucketReady(): void {
            if (bucket.ready(waiter) && decide(callbacks)) callbacks.continueReading();
          },
        };
        if (!bucket.ready(waiter)) return 'stop';
        return decide(callbacks) ? 'continue' : 'stop';
      },
    };
    return { create: () => filter };
  },
};
