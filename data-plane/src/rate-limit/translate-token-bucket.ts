/**
 * envoy.type.v3.TokenBucket → TokenBucketSpec, for the local rate limit filters (HTTP and
 * network). Envoy's rules: max_tokens > 0, tokens_per_fill > 0 (default 1), fill_interval
 * required and at least 50 ms.
 */
import {
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../config/translate-common.js';
import type { TokenBucketSpec } from './token-bucket.js';

/** Envoy refuses shorter fill intervals ("fill timer must be >= 50ms"). */
export const MIN_FILL_INTERVAL_MS = 50;

export const TOKEN_BUCKET_SPEC: MessageSpec = messageSpec('envoy.type.v3.TokenBucket', {
  max_tokens: 'bucket size (> 0); the bucket starts full',
  tokens_per_fill: 'default 1: refilled continuously at tokens_per_fill per fill_interval',
  fill_interval: 'at least 50ms',
});

export function tokenBucket(obj: JsonObject, path: string, issues: Issues): TokenBucketSpec {
  checkFields(obj, TOKEN_BUCKET_SPEC, path, issues);
  const maxTokens = int(obj.max_tokens, 0);
  if (maxTokens <= 0) issues.add(join(path, 'max_tokens'), 'must be greater than 0');
  const tokensPerFill = int(obj.tokens_per_fill, 1);
  if (tokensPerFill <= 0) issues.add(join(path, 'tokens_per_fill'), 'must be greater than 0');
  const fillIntervalMs = durationMs(obj.fill_interval, 0);
  if (obj.fill_interval === undefined) issues.add(join(path, 'fill_interval'), 'is required');
  else if (fillIntervalMs < MIN_FILL_INTERVAL_MS)
    issues.add(
      join(path, 'fill_interval'),
      `${fillIntervalMs}ms is too short (at least ${MIN_FILL_INTERVAL_MS}ms, as Envoy)`,
    );
  return {
    maxTokens: Math.max(1, maxTokens),
    tokensPerFill: Math.max(1, tokensPerFill),
    fillIntervalMs: Math.max(MIN_FILL_INTERVAL_MS, fillIntervalMs),
  };
}
