import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RetryPolicyModel } from '../../../config/model.js';
import { DEFAULT_BACKOFF_BASE_MS, RetryState } from './retry-state.js';

function policy(extra: Partial<RetryPolicyModel> = {}): RetryPolicyModel {
  return {
    retryOn: ['5xx'],
    numRetries: 2,
    perTryTimeoutMs: 0,
    retriableStatusCodes: [],
    backoffBaseMs: 0,
    backoffMaxMs: 0,
    previousHostsPredicate: false,
    hostSelectionRetryMaxAttempts: 1,
    ...extra,
  };
}

describe('RetryState', () => {
  const statusCases: [string[], number[], number, boolean][] = [
    [['5xx'], [], 500, true],
    [['5xx'], [], 503, true],
    [['5xx'], [], 404, false],
    [['gateway-error'], [], 502, true],
    [['gateway-error'], [], 500, false],
    [['retriable-status-codes'], [409], 409, true],
    [['retriable-status-codes'], [409], 500, false],
    [['connect-failure'], [], 503, false],
  ];
  for (const [retryOn, codes, status, expected] of statusCases)
    test(`retry_on ${retryOn.join(',')} ${codes.join(',')}: status ${status} → ${expected}`, () => {
      const state = new RetryState(policy({ retryOn, retriableStatusCodes: codes }));
      assert.equal(state.retriableStatus(status), expected);
    });

  test('resets: reset, 5xx and gateway-error retry any reset; connect-failure only connect failures', () => {
    for (const on of ['reset', '5xx', 'gateway-error']) {
      const state = new RetryState(policy({ retryOn: [on] }));
      assert.equal(state.retriableFailure('reset'), true, on);
      assert.equal(state.retriableFailure('timeout'), true, on);
      assert.equal(state.retriableFailure('connect-failure'), true, on);
    }
    const connect = new RetryState(policy({ retryOn: ['connect-failure'] }));
    assert.equal(connect.retriableFailure('connect-failure'), true);
    assert.equal(connect.retriableFailure('reset'), false);
    assert.equal(connect.retriableFailure('timeout'), false);
  });

  test('num_retries bounds the retries', () => {
    const state = new RetryState(policy({ numRetries: 2 }), () => 0);
    assert.equal(state.retriesLeft, true);
    state.nextBackoffMs();
    assert.equal(state.retriesLeft, true);
    state.nextBackoffMs();
    assert.equal(state.retriesLeft, false);
  });

  test("back-off is Envoy's jittered exponential: [0, min(base·2^(n-1), max))", () => {
    // A random source just below 1 shows each retry's ceiling.
    const top = new RetryState(
      policy({ numRetries: 5, backoffBaseMs: 100, backoffMaxMs: 500 }),
      () => 0.9999,
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => top.nextBackoffMs()),
      [99, 199, 399, 499, 499],
    );
    const bottom = new RetryState(policy({ backoffBaseMs: 100 }), () => 0);
    assert.equal(bottom.nextBackoffMs(), 0);
    // Defaults: base 25 ms, max 10 × base.
    const defaults = new RetryState(policy({ numRetries: 6 }), () => 0.9999);
    const delays = [1, 2, 3, 4, 5, 6].map(() => defaults.nextBackoffMs());
    assert.equal(delays[0], DEFAULT_BACKOFF_BASE_MS - 1);
    assert.equal(delays[5], DEFAULT_BACKOFF_BASE_MS * 10 - 1);
  });

  test('previous_hosts: tried hosts are excluded; without the predicate nothing is', () => {
    const withPredicate = new RetryState(policy({ previousHostsPredicate: true }));
    assert.equal(withPredicate.excludedHosts, undefined);
    withPredicate.onHostChosen('10.0.0.1:80');
    withPredicate.onHostChosen('10.0.0.2:80');
    assert.deepEqual([...withPredicate.excludedHosts!], ['10.0.0.1:80', '10.0.0.2:80']);
    const without = new RetryState(policy());
    without.onHostChosen('10.0.0.1:80');
    assert.equal(without.excludedHosts, undefined);
  });

  test('host_selection_retry_max_attempts defaults to one reattempt', () => {
    assert.equal(
      new RetryState(policy({ hostSelectionRetryMaxAttempts: 0 })).hostSelectionRetryMaxAttempts,
      1,
    );
    assert.equal(
      new RetryState(policy({ hostSelectionRetryMaxAttempts: 3 })).hostSelectionRetryMaxAttempts,
      3,
    );
  });
});
