import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Issues, type JsonObject } from '../../../config/translate-common.js';
import { networkLocalRateLimitFilter } from './config.js';

function validate(config: JsonObject, path = 'f', label = 'Listener "a"') {
  const issues = new Issues(label);
  const model = networkLocalRateLimitFilter.validate(config, path, issues, {});
  return { model, errors: issues.errors };
}

const BUCKET = { max_tokens: 3, fill_interval: '1s' };

describe('network local_ratelimit config', () => {
  test("Envoy's defaults: runtime_enabled true, tokens_per_fill 1", () => {
    const { model, errors } = validate({ stat_prefix: 's', token_bucket: BUCKET });
    assert.deepEqual(errors, []);
    assert.equal(model.enabled, true);
    assert.deepEqual(model.tokenBucket, { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1000 });
    assert.equal(
      validate({ stat_prefix: 's', token_bucket: BUCKET, runtime_enabled: { runtime_key: 'k' } })
        .model.enabled,
      true,
    );
    assert.equal(
      validate({
        stat_prefix: 's',
        token_bucket: BUCKET,
        runtime_enabled: { default_value: false, runtime_key: 'k' },
      }).model.enabled,
      false,
    );
  });

  test('NACKs: token_bucket required, stat_prefix required', () => {
    assert.deepEqual(validate({ stat_prefix: 's' }).errors, [
      'Listener "a": f.token_bucket: is required',
    ]);
    assert.deepEqual(validate({ token_bucket: BUCKET }).errors, [
      'Listener "a": f.stat_prefix: is required (non-empty)',
    ]);
  });

  test('share_key: one bucket across listeners for the same key and bucket', () => {
    const shared = { stat_prefix: 's', token_bucket: BUCKET, share_key: 'edge' };
    const a = validate(shared, 'f', 'Listener "a"').model.bucketId;
    assert.equal(validate(shared, 'g', 'Listener "b"').model.bucketId, a);
    assert.notEqual(
      validate({ ...shared, token_bucket: { ...BUCKET, max_tokens: 4 } }).model.bucketId,
      a,
    );
    const own = { stat_prefix: 's', token_bucket: BUCKET };
    assert.notEqual(
      validate(own, 'f', 'Listener "a"').model.bucketId,
      validate(own, 'f', 'Listener "b"').model.bucketId,
    );
  });
});
