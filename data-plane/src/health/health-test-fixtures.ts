/**
 * Fixtures of the active health-checking unit tests: a HealthCheckModel with every interval at
 * 1 s (no-traffic ones too: tests about them set their own), a checker answering from a table,
 * and a fake-clock step that lets the probes' promises settle. Test-only.
 */
import { mock } from 'node:test';
import type { HealthCheckModel } from '../config/model.js';
import {
  HEALTHY,
  networkFailure,
  type CheckOutcome,
  type HealthChecker,
  type HealthCheckTarget,
} from './health-checker.js';

export function healthCheck(extra: Partial<HealthCheckModel> = {}): HealthCheckModel {
  return {
    timeoutMs: 100,
    intervalMs: 1000,
    initialJitterMs: 0,
    intervalJitterMs: 0,
    intervalJitterPercent: 0,
    unhealthyThreshold: 2,
    healthyThreshold: 2,
    noTrafficIntervalMs: 1000,
    noTrafficHealthyIntervalMs: 1000,
    unhealthyIntervalMs: 1000,
    unhealthyEdgeIntervalMs: 1000,
    healthyEdgeIntervalMs: 1000,
    checker: { kind: 'tcp', sendHex: '', receiveHex: [] },
    ...extra,
  };
}

/**
 * Answers by port: healthy unless set; 'hang' never answers until aborted (the check's timeout).
 * Records every probe.
 */
export class FakeChecker implements HealthChecker {
  readonly probes: HealthCheckTarget[] = [];
  constructor(private readonly answers: Map<number, CheckOutcome | 'hang'>) {}
  check(target: HealthCheckTarget, signal: AbortSignal): Promise<CheckOutcome> {
    this.probes.push(target);
    const answer = this.answers.get(target.port) ?? HEALTHY;
    if (answer !== 'hang') return Promise.resolve(answer);
    return new Promise((resolve) =>
      signal.addEventListener('abort', () => resolve(networkFailure('timed out')), { once: true }),
    );
  }
}

/** Runs due timers (node:test mock timers) and lets the resulting probe promises settle. */
export async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
