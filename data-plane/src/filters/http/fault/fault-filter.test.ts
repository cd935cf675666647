import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FaultFilterModel } from '../../../config/model.js';
import { MemoryStatsSink } from '../../../stats/stats-memory.js';
import { FakeFilterCallbacks, requestHeaders } from '../filter-test-fixtures.js';
import { ActiveFaults, FaultFilter, type FaultFilterOptions } from './fault-filter.js';

const ALWAYS = { numerator: 100, denominator: 100 };

function model(extra: Partial<FaultFilterModel>): FaultFilterModel {
  return { upstreamCluster: '', headers: [], downstreamNodes: [], ...extra };
}

const LABELS = { listener: 'l', stat_prefix: 'http' };

function setup(config: FaultFilterModel, options: FaultFilterOptions = {}) {
  const stats = new MemoryStatsSink();
  const filter = new FaultFilter(
    config,
    { stats, statPrefix: 'http', listenerName: 'l' },
    { activeFaults: new ActiveFaults(), ...options },
  );
  return { stats, filter };
}

/** A random source that returns the given values in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('fault filter', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('fixed abort: local reply with Envoy body and details', () => {
    const { filter, stats } = setup(
      model({ abort: { kind: 'http', httpStatus: 503, percentage: ALWAYS } }),
    );
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const stream = filter.create(callbacks);
    assert.equal(stream.decodeHeaders(requestHeaders('GET', '/')), 'stop');
    assert.deepEqual(callbacks.localReplies, [
      {
        status: 503,
        body: 'fault filter abort',
        options: { flag: 'FI', details: 'fault_filter_abort' },
      },
    ]);
    assert.equal(stats.counterValue('fault_aborts_injected', LABELS), 1);
    assert.equal(stats.gaugeValue('fault_active_faults', LABELS), 1);
    stream.onDestroy();
    assert.equal(stats.gaugeValue('fault_active_faults', LABELS), 0);
  });

  test('fixed delay holds the request on a timer, then continues', () => {
    const { filter, stats } = setup(
      model({ delay: { kind: 'fixed', fixedDelayMs: 200, percentage: ALWAYS } }),
    );
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const stream = filter.create(callbacks);
    assert.equal(stream.decodeHeaders(requestHeaders('POST', '/')), 'stop');
    assert.equal(stream.decodeData(), 'stop-and-watermark');
    assert.equal(stream.decodeTrailers(), 'stop');
    mock.timers.tick(199);
    assert.equal(callbacks.continueDecodingCalls, 0);
    mock.timers.tick(1);
    assert.equal(callbacks.continueDecodingCalls, 1);
    assert.equal(stream.decodeData(), 'continue');
    assert.equal(stats.counterValue('fault_delays_injected', LABELS), 1);
    assert.equal(
      stats.gaugeValue('fault_active_faults', LABELS),
      0,
      'a finished delay is no longer active',
    );
  });

  test('a delay followed by an abort aborts when the timer fires', () => {
    const { filter } = setup(
      model({
        delay: { kind: 'fixed', fixedDelayMs: 50, percentage: ALWAYS },
        abort: { kind: 'http', httpStatus: 429, percentage: ALWAYS },
      }),
    );
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const stream = filter.create(callbacks);
    assert.equal(stream.decodeHeaders(requestHeaders('GET', '/')), 'stop');
    assert.equal(callbacks.localReplies.length, 0);
    mock.timers.tick(50);
    assert.equal(callbacks.localReplies[0]?.status, 429);
    assert.equal(callbacks.continueDecodingCalls, 0);
  });

  test('onDestroy clears a pending delay timer', () => {
    const { filter, stats } = setup(
      model({ delay: { kind: 'fixed', fixedDelayMs: 1000, percentage: ALWAYS } }),
    );
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const stream = filter.create(callbacks);
    stream.decodeHeaders(requestHeaders('GET', '/'));
    stream.onDestroy();
    mock.timers.tick(2000);
    assert.equal(callbacks.continueDecodingCalls, 0);
    assert.equal(stats.gaugeValue('fault_active_faults', LABELS), 0);
  });

  test('percentages roll against the random source', () => {
    const config = model({
      abort: { kind: 'http', httpStatus: 500, percentage: { numerator: 30, denominator: 100 } },
    });
    // floor(0.29 * 100) = 29 < 30: abort; floor(0.3 * 100) = 30: no abort.
    const { filter } = setup(config, { random: sequence(0.29, 0.3) });
    const aborted = [0, 1].map(() => {
      const callbacks = new FakeFilterCallbacks({ route: {} });
      filter.create(callbacks).decodeHeaders(requestHeaders('GET', '/'));
      return callbacks.localReplies.length === 1;
    });
    assert.deepEqual(aborted, [true, false]);
  });

  test('header_abort: HTTP status header, then gRPC status header; percentage header caps', () => {
    const { filter } = setup(
      model({ abort: { kind: 'header', percentage: { numerator: 50, denominator: 100 } } }),
      {
        random: sequence(0.2),
      },
    );
    const run = (headers: Record<string, string>) => {
      const callbacks = new FakeFilterCallbacks({ route: {} });
      const status = filter.create(callbacks).decodeHeaders(requestHeaders('GET', '/', headers));
      return { status, reply: callbacks.localReplies[0] };
    };
    assert.equal(run({}).status, 'continue', 'no header: no abort');
    assert.equal(run({ 'x-envoy-fault-abort-request': '418' }).reply?.status, 418);
    assert.equal(run({ 'x-envoy-fault-abort-request': '600' }).status, 'continue', 'out of range');
    assert.equal(run({ 'x-envoy-fault-abort-request': 'abc' }).status, 'continue');
    assert.deepEqual(run({ 'x-envoy-fault-abort-grpc-request': '14' }).reply, {
      status: 200,
      body: 'fault filter abort',
      options: { flag: 'FI', details: 'fault_filter_abort', grpcStatus: 14 },
    });
    assert.equal(
      run({ 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-grpc-request': '14' }).reply
        ?.status,
      503,
      'the HTTP status header wins',
    );
    // 0.2 → 20; a 10% header lowers the configured 50% below it; 90% is capped at 50%.
    assert.equal(
      run({ 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-request-percentage': '10' })
        .status,
      'continue',
    );
    assert.equal(
      run({ 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-request-percentage': '90' })
        .status,
      'stop',
    );
  });

  test('header_delay: milliseconds from x-envoy-fault-delay-request (first value only)', () => {
    const { filter } = setup(model({ delay: { kind: 'header', percentage: ALWAYS } }));
    const callbacks = new FakeFilterCallbacks({ route: {} });
    const headers = requestHeaders('GET', '/');
    headers.append('x-envoy-fault-delay-request', '30');
    headers.append('x-envoy-fault-delay-request', '5000');
    assert.equal(filter.create(callbacks).decodeHeaders(headers), 'stop');
    mock.timers.tick(30);
    assert.equal(callbacks.continueDecodingCalls, 1);
    const zero = new FakeFilterCallbacks({ route: {} });
    assert.equal(
      filter
        .create(zero)
        .decodeHeaders(requestHeaders('GET', '/', { 'x-envoy-fault-delay-request': '0' })),
      'continue',
    );
  });

  test('max_active_faults: faults beyond the limit are skipped and counted', () => {
    const active = new ActiveFaults();
    const { filter, stats } = setup(
      model({
        delay: { kind: 'fixed', fixedDelayMs: 100, percentage: ALWAYS },
        maxActiveFaults: 1,
      }),
      { activeFaults: active },
    );
    const first = filter.create(new FakeFilterCallbacks({ route: {} }));
    assert.equal(first.decodeHeaders(requestHeaders('GET', '/')), 'stop');
    const second = filter.create(new FakeFilterCallbacks({ route: {} }));
    assert.equal(second.decodeHeaders(requestHeaders('GET', '/')), 'continue');
    assert.equal(stats.counterValue('fault_faults_overflow', LABELS), 1);
    first.onDestroy();
    assert.equal(active.count, 0);
    const third = filter.create(new FakeFilterCallbacks({ route: {} }));
    assert.equal(third.decodeHeaders(requestHeaders('GET', '/')), 'stop');
    third.onDestroy();
  });

  test('targeting: upstream_cluster, downstream_nodes and header matchers', () => {
    const { filter } = setup(
      model({
        abort: { kind: 'http', httpStatus: 500, percentage: ALWAYS },
        upstreamCluster: 'web',
        downstreamNodes: ['node-a'],
        headers: [
          {
            name: ':path',
            kind: 'string',
            string: { kind: 'prefix', value: '/api', ignoreCase: false },
            invert: false,
            treatMissingAsEmpty: false,
          },
        ],
      }),
    );
    const run = (cluster: string, path: string, node: string | undefined) => {
      const callbacks = new FakeFilterCallbacks({ route: { clusterName: cluster } });
      const headers = requestHeaders(
        'GET',
        path,
        node ? { 'x-envoy-downstream-service-node': node } : {},
      );
      return filter.create(callbacks).decodeHeaders(headers);
    };
    assert.equal(run('web', '/api/x', 'node-a'), 'stop');
    assert.equal(run('other', '/api/x', 'node-a'), 'continue');
    assert.equal(run('web', '/app', 'node-a'), 'continue');
    assert.equal(run('web', '/api/x', 'node-b'), 'continue');
    assert.equal(run('web', '/api/x', undefined), 'continue');
  });

  test('a per-route HTTPFault replaces the filter config; filter_metadata is recorded', () => {
    const { filter } = setup(
      model({ abort: { kind: 'http', httpStatus: 500, percentage: ALWAYS } }),
    );
    const perRoute = model({
      abort: { kind: 'http', httpStatus: 418, percentage: ALWAYS },
      filterMetadata: { injected: 'teapot' },
    });
    const callbacks = new FakeFilterCallbacks({
      route: { perFilter: [{ config: perRoute, disabled: false }] },
      name: 'envoy.filters.http.fault',
    });
    filter.create(callbacks).decodeHeaders(requestHeaders('GET', '/'));
    assert.equal(callbacks.localReplies[0]?.status, 418);
    assert.deepEqual(callbacks.streamInfo.dynamicMetadata.get('envoy.filters.http.fault'), {
      injected: 'teapot',
    });
  });
});
