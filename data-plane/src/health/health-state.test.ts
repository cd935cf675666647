import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { activeFailure, HEALTHY, networkFailure, type CheckOutcome } from './health-checker.js';
import { HostHealthState, type IntervalSettings } from './health-state.js';

const OK = HEALTHY;
const NET = networkFailure('refused');
const BAD = activeFailure('status 503');
const RETRY = activeFailure('status 429', true);
const THRESHOLDS = { healthyThreshold: 2, unhealthyThreshold: 3 };

describe('HostHealthState thresholds', () => {
  const cases: { name: string; outcomes: CheckOutcome[]; statuses: string }[] = [
    { name: 'starts unhealthy; the first success is enough', outcomes: [OK], statuses: 'H' },
    { name: 'a failed first check keeps it unhealthy', outcomes: [NET, OK], statuses: 'UU' },
    {
      name: 'then healthy_threshold successes are needed',
      outcomes: [NET, OK, OK],
      statuses: 'UUH',
    },
    {
      name: 'network failures need unhealthy_threshold',
      outcomes: [OK, NET, NET, NET],
      statuses: 'HHHU',
    },
    {
      name: 'a success resets the failure count',
      outcomes: [OK, NET, NET, OK, NET, NET],
      statuses: 'HHHHHH',
    },
    { name: 'an active failure is immediate', outcomes: [OK, BAD], statuses: 'HU' },
    {
      name: 'a retriable status counts like a network failure',
      outcomes: [OK, RETRY, RETRY, RETRY],
      statuses: 'HHHU',
    },
    {
      name: 'a failure resets the success count',
      outcomes: [OK, BAD, OK, NET, OK, OK],
      statuses: 'HUUUUH',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const state = new HostHealthState();
      assert.equal(state.pending, true);
      const seen = c.outcomes.map((o) => {
        state.record(o, THRESHOLDS);
        return state.status === 'HEALTHY' ? 'H' : 'U';
      });
      assert.equal(seen.join(''), c.statuses);
      assert.equal(state.pending, false);
    });
  }

  test('record reports transitions', () => {
    const state = new HostHealthState();
    assert.equal(state.record(OK, THRESHOLDS), 'changed');
    assert.equal(state.record(OK, THRESHOLDS), 'unchanged');
    assert.equal(state.record(BAD, THRESHOLDS), 'changed');
    assert.equal(state.record(BAD, THRESHOLDS), 'unchanged');
  });
});

describe('HostHealthState.nextIntervalMs (Envoy HealthCheckerImplBase::interval)', () => {
  const settings: IntervalSettings = {
    intervalMs: 1000,
    intervalJitterMs: 0,
    intervalJitterPercent: 0,
    unhealthyIntervalMs: 3000,
    unhealthyEdgeIntervalMs: 500,
    healthyEdgeIntervalMs: 200,
    noTrafficIntervalMs: 60_000,
    noTrafficHealthyIntervalMs: 90_000,
  };
  const zero = (): number => 0;
  // THRESHOLDS: healthy 2, unhealthy 3.
  const cases: { name: string; outcomes: CheckOutcome[]; traffic: boolean; expected: number }[] = [
    {
      name: 'first check fails: unhealthy_interval',
      outcomes: [NET],
      traffic: true,
      expected: 3000,
    },
    { name: 'first check passes: interval', outcomes: [OK], traffic: true, expected: 1000 },
    { name: 'stays healthy: interval', outcomes: [OK, OK], traffic: true, expected: 1000 },
    {
      name: 'healthy host fails below the threshold: unhealthy_edge_interval',
      outcomes: [OK, NET],
      traffic: true,
      expected: 500,
    },
    {
      name: 'and again: still pending, unhealthy_edge_interval',
      outcomes: [OK, NET, NET],
      traffic: true,
      expected: 500,
    },
    {
      name: 'reaches the threshold: unhealthy_interval',
      outcomes: [OK, NET, NET, NET],
      traffic: true,
      expected: 3000,
    },
    {
      name: 'active failure, at once: unhealthy_interval',
      outcomes: [OK, BAD],
      traffic: true,
      expected: 3000,
    },
    {
      name: 'unhealthy host passes below the threshold: healthy_edge_interval',
      outcomes: [OK, BAD, OK],
      traffic: true,
      expected: 200,
    },
    {
      name: 'reaches the threshold: interval',
      outcomes: [OK, BAD, OK, OK],
      traffic: true,
      expected: 1000,
    },
    {
      name: 'stays unhealthy: unhealthy_interval',
      outcomes: [OK, BAD, NET],
      traffic: true,
      expected: 3000,
    },
    {
      name: 'no traffic, healthy: no_traffic_healthy_interval',
      outcomes: [OK, OK],
      traffic: false,
      expected: 90_000,
    },
    {
      name: 'no traffic, unhealthy: no_traffic_interval',
      outcomes: [NET],
      traffic: false,
      expected: 60_000,
    },
    {
      name: 'no traffic, passing but pending: no_traffic_interval',
      outcomes: [OK, BAD, OK],
      traffic: false,
      expected: 60_000,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const state = new HostHealthState();
      for (const o of c.outcomes) state.record(o, THRESHOLDS);
      assert.equal(state.nextIntervalMs(settings, zero, c.traffic), c.expected);
    });
  }

  test('jitter adds up to interval_jitter and interval_jitter_percent of the base', () => {
    const state = new HostHealthState();
    state.record(OK, THRESHOLDS);
    state.record(OK, THRESHOLDS);
    const jittered = { ...settings, intervalJitterMs: 100, intervalJitterPercent: 50 };
    assert.equal(
      state.nextIntervalMs(jittered, () => 0),
      1000,
    );
    assert.equal(
      state.nextIntervalMs(jittered, () => 0.5),
      1000 + 250 + 50,
    );
    assert.ok(state.nextIntervalMs(jittered, () => 0.999999) < 1000 + 500 + 100);
  });
});
