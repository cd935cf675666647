import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetectionModel } from '../config/model.js';
import { OUTLIER_DEFAULTS } from '../config/translate-outlier.js';
import { OutlierDetector, successRateThreshold, type UpstreamOutcome } from './outlier-detector.js';

/** A detector over `hosts` with a fake clock and a fixed "random" (0 = always enforce). */
function detector(
  overrides: Partial<OutlierDetectionModel>,
  hosts: readonly string[],
  random = 0,
): { d: OutlierDetector; clock: { ms: number } } {
  const clock = { ms: 1_000_000 };
  const d = new OutlierDetector(
    { ...OUTLIER_DEFAULTS, ...overrides },
    { now: () => clock.ms, random: () => random },
  );
  d.setHosts(hosts);
  return { d, clock };
}

function send(d: OutlierDetector, key: string, outcome: UpstreamOutcome, times: number): void {
  for (let i = 0; i < times; i++) d.report(key, outcome);
}

const TWO = ['a:1', 'b:1'];
const ALL = { maxEjectionPercent: 100 };

describe('OutlierDetector consecutive errors', () => {
  const cases: Array<{
    name: string;
    config: Partial<OutlierDetectionModel>;
    outcomes: UpstreamOutcome[];
    ejected: boolean;
  }> = [
    { name: '5 × 500 ejects', config: ALL, outcomes: [500, 500, 500, 500, 500], ejected: true },
    { name: '4 × 500 does not', config: ALL, outcomes: [500, 500, 500, 500], ejected: false },
    {
      name: 'a success resets the count',
      config: ALL,
      outcomes: [500, 500, 500, 500, 200, 500],
      ejected: false,
    },
    {
      name: 'consecutive_5xx 2',
      config: { ...ALL, consecutive5xx: 2 },
      outcomes: [503, 500],
      ejected: true,
    },
    {
      name: 'gateway failures: enforcing default 0 detects only',
      config: { ...ALL, consecutive5xx: 100 },
      outcomes: [502, 503, 504, 502, 503],
      ejected: false,
    },
    {
      name: 'gateway failures with enforcing 100',
      config: { ...ALL, consecutive5xx: 100, enforcingConsecutiveGatewayFailure: 100 },
      outcomes: [502, 503, 504, 502, 503],
      ejected: true,
    },
    {
      name: 'a 500 breaks a gateway-failure run',
      config: { ...ALL, consecutive5xx: 100, enforcingConsecutiveGatewayFailure: 100 },
      outcomes: [502, 503, 500, 504, 502, 503],
      ejected: false,
    },
    {
      name: 'local failures count as 5xx without the split',
      config: ALL,
      outcomes: ['connect-failure', 'timeout', 'reset', 'connect-failure', 'reset'],
      ejected: true,
    },
    {
      name: 'with the split, local failures do not count as 5xx',
      config: { ...ALL, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 100 },
      outcomes: ['connect-failure', 500, 'timeout', 500, 'reset', 500, 500],
      ejected: false,
    },
    {
      name: 'with the split, consecutive local-origin failures eject',
      config: { ...ALL, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 },
      outcomes: ['connect-failure', 'timeout', 'reset'],
      ejected: true,
    },
    {
      name: 'with the split, a response resets local-origin failures',
      config: { ...ALL, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 },
      outcomes: ['connect-failure', 'timeout', 500, 'reset'],
      ejected: false,
    },
    {
      name: 'enforcing_consecutive_5xx 0 detects only',
      config: { ...ALL, enforcingConsecutive5xx: 0 },
      outcomes: [500, 500, 500, 500, 500],
      ejected: false,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { d } = detector(c.config, TWO);
      for (const outcome of c.outcomes) d.report('a:1', outcome);
      assert.equal(d.isEjected('a:1'), c.ejected);
      assert.equal(d.isEjected('b:1'), false);
    });
  }

  test('enforcing 0 still counts the detection', () => {
    const { d } = detector({ ...ALL, enforcingConsecutive5xx: 0 }, TWO);
    send(d, 'a:1', 500, 5);
    assert.equal(d.stats.detected.consecutive_5xx, 1);
    assert.equal(d.stats.enforced.consecutive_5xx, 0);
    assert.equal(d.stats.ejectionsActive, 0);
  });

  test('enforcing is a percentage chance', () => {
    const at = (random: number): boolean => {
      const { d } = detector({ ...ALL, enforcingConsecutive5xx: 30 }, TWO, random);
      send(d, 'a:1', 500, 5);
      return d.isEjected('a:1');
    };
    assert.equal(at(0.29), true);
    assert.equal(at(0.3), false);
  });
});

describe('OutlierDetector ejection time', () => {
  test('unejects at the first interval after base_ejection_time', () => {
    const { d, clock } = detector({ ...ALL, baseEjectionTimeMs: 1000 }, TWO);
    send(d, 'a:1', 500, 5);
    assert.equal(d.isEjected('a:1'), true);
    clock.ms += 999;
    d.tick();
    assert.equal(d.isEjected('a:1'), true);
    clock.ms += 1;
    d.tick();
    assert.equal(d.isEjected('a:1'), false);
  });

  test('grows with each ejection, capped by max_ejection_time, and shrinks while healthy', () => {
    const { d, clock } = detector(
      { ...ALL, baseEjectionTimeMs: 1000, maxEjectionTimeMs: 2500 },
      TWO,
    );
    /** Ejects a:1 and returns how long it stays out (checked at 1 ms resolution via ticks). */
    const ejectionLength = (): number => {
      send(d, 'a:1', 500, 5);
      assert.equal(d.isEjected('a:1'), true);
      const start = clock.ms;
      for (let ticks = 0; d.isEjected('a:1'); ticks++) {
        // A synchronous loop: bounded here, or a host that is never returned hangs the suite.
        assert.ok(ticks < 1000, 'a:1 still ejected 100 s (fake time) after its ejection');
        clock.ms += 100;
        d.tick();
      }
      return clock.ms - start;
    };
    // The ticks while ejected do not shrink the multiplier; each ejection adds one.
    assert.equal(ejectionLength(), 1000);
    assert.equal(ejectionLength(), 2000);
    assert.equal(ejectionLength(), 2500);
    assert.equal(ejectionLength(), 2500);
    // Quiet intervals bring it back down one step each (multiplier 3 → 0 needs 3 ticks).
    for (let i = 0; i < 3; i++) d.tick();
    assert.equal(ejectionLength(), 1000);
  });

  test('jitter is added up to max_ejection_time_jitter', () => {
    const { d, clock } = detector(
      { ...ALL, baseEjectionTimeMs: 1000, maxEjectionTimeJitterMs: 500 },
      TWO,
      0.5,
    );
    send(d, 'a:1', 500, 5);
    clock.ms += 1249;
    d.tick();
    assert.equal(d.isEjected('a:1'), true);
    clock.ms += 1;
    d.tick();
    assert.equal(d.isEjected('a:1'), false);
  });

  test('a successful active check unejects unless disabled', () => {
    for (const [flag, expected] of [
      [true, false],
      [false, true],
    ] as const) {
      const { d } = detector({ ...ALL, successfulActiveHealthCheckUnejectHost: flag }, TWO);
      send(d, 'a:1', 500, 5);
      d.unejectIfHealthy('a:1');
      assert.equal(d.isEjected('a:1'), expected);
    }
  });

  test('subscribers hear ejections and unejections; removed hosts leave', () => {
    const { d, clock } = detector({ ...ALL, baseEjectionTimeMs: 10 }, TWO);
    let calls = 0;
    const unsubscribe = d.subscribe(() => calls++);
    send(d, 'a:1', 500, 5);
    clock.ms += 10;
    d.tick();
    assert.equal(calls, 2);
    send(d, 'a:1', 500, 5);
    d.setHosts(['b:1']);
    assert.equal(calls, 4);
    assert.equal(d.stats.ejectionsActive, 0);
    unsubscribe();
    send(d, 'b:1', 500, 5);
    assert.equal(calls, 4);
  });
});

describe('OutlierDetector max_ejection_percent', () => {
  const hosts = ['h0:1', 'h1:1', 'h2:1', 'h3:1', 'h4:1', 'h5:1', 'h6:1', 'h7:1', 'h8:1', 'h9:1'];
  const cases: Array<[string, Partial<OutlierDetectionModel>, number]> = [
    ['default 10% of 10 hosts: one', {}, 1],
    ['30%: three', { maxEjectionPercent: 30 }, 3],
    ['0%: none', { maxEjectionPercent: 0 }, 0],
    ['0% with always_eject_one_host: one', { maxEjectionPercent: 0, alwaysEjectOneHost: true }, 1],
    ['100%: all', { maxEjectionPercent: 100 }, 10],
  ];
  for (const [name, config, expected] of cases) {
    test(name, () => {
      const { d } = detector(config, hosts);
      for (const host of hosts) send(d, host, 500, 5);
      assert.equal(d.stats.ejectionsActive, expected);
      assert.equal(d.ejectedHosts().size, expected);
      assert.equal(d.stats.ejectionsOverflow, 10 - expected);
    });
  }

  test('default 10% of 2 hosts ejects none (50% would exceed it)', () => {
    const { d } = detector({}, TWO);
    send(d, 'a:1', 500, 5);
    assert.equal(d.isEjected('a:1'), false);
  });
});

describe('OutlierDetector success rate and failure percentage', () => {
  test('successRateThreshold on a known sample', () => {
    // Rates 100, 100, 100, 100, 50: mean 90, population stdev 20 → 90 − 1.9 × 20 = 52.
    assert.equal(successRateThreshold([100, 100, 100, 100, 50], 1900), 52);
    // Factor 1000 (1.0): 90 − 20 = 70.
    assert.equal(successRateThreshold([100, 100, 100, 100, 50], 1000), 70);
  });

  const five = ['h0:1', 'h1:1', 'h2:1', 'h3:1', 'h4:1'];
  /** Sends `volume` requests to each host, `failures[i]` of them 500s, then ticks. */
  function round(d: OutlierDetector, volume: number, failures: readonly number[]): void {
    five.forEach((host, i) => {
      for (let n = 0; n < volume; n++) d.report(host, n < failures[i]! ? 500 : 200);
    });
    d.tick();
  }
  // consecutive_5xx is set out of reach so only the statistical ejections act.
  const base = { maxEjectionPercent: 100, consecutive5xx: 100_000 };

  const cases: Array<[string, Partial<OutlierDetectionModel>, number, number[], string[]]> = [
    ['an outlier below mean − 1.9 stdev is ejected', base, 100, [0, 0, 0, 0, 60], ['h4:1']],
    ['at 50%: threshold 52 still ejects', base, 100, [0, 0, 0, 0, 50], ['h4:1']],
    // With four perfect hosts any lower one is below mean − 1.9 stdev; spread keeps hosts in.
    ['equal rates (stdev 0): nobody', base, 100, [10, 10, 10, 10, 10], []],
    ['rates 100/80/100/80/90: threshold 73, nobody', base, 100, [0, 20, 0, 20, 10], []],
    ['below request volume: nothing', base, 99, [0, 0, 0, 0, 60], []],
    [
      'fewer hosts than minimum',
      { ...base, successRateMinimumHosts: 6 },
      100,
      [0, 0, 0, 0, 60],
      [],
    ],
    [
      'enforcing_success_rate 0: detected only',
      { ...base, enforcingSuccessRate: 0 },
      100,
      [0, 0, 0, 0, 60],
      [],
    ],
    [
      'failure percentage is off by default (enforcing 0)',
      { ...base, enforcingSuccessRate: 0 },
      50,
      [0, 0, 0, 0, 50],
      [],
    ],
    [
      'failure percentage ≥ threshold ejects',
      { ...base, enforcingSuccessRate: 0, enforcingFailurePercentage: 100 },
      50,
      [0, 0, 0, 42, 50],
      ['h4:1'],
    ],
    [
      'failure percentage exactly at the threshold ejects',
      {
        ...base,
        enforcingSuccessRate: 0,
        enforcingFailurePercentage: 100,
        failurePercentageThreshold: 50,
      },
      50,
      [0, 25, 24, 0, 0],
      ['h1:1'],
    ],
    [
      'failure percentage below request volume: nothing',
      { ...base, enforcingSuccessRate: 0, enforcingFailurePercentage: 100 },
      49,
      [0, 0, 0, 0, 49],
      [],
    ],
  ];
  for (const [name, config, volume, failures, ejected] of cases) {
    test(name, () => {
      const { d } = detector(config, five);
      round(d, volume, failures);
      assert.deepEqual([...d.ejectedHosts()].sort(), ejected);
    });
  }

  test('counts start over each interval', () => {
    const { d } = detector(base, five);
    round(d, 60, [0, 0, 0, 0, 36]);
    round(d, 60, [0, 0, 0, 0, 36]);
    assert.equal(d.ejectedHosts().size, 0);
  });

  test('local-origin success rate uses its own counts with the split', () => {
    const { d } = detector(
      { ...base, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 100_000 },
      five,
    );
    five.forEach((host, i) => {
      for (let n = 0; n < 100; n++) d.report(host, i === 4 && n < 60 ? 'connect-failure' : 200);
    });
    d.tick();
    assert.deepEqual([...d.ejectedHosts()], ['h4:1']);
    assert.equal(d.stats.enforced.local_origin_success_rate, 1);
  });
});
