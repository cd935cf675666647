/**
 * Builds the HealthChecker for a HealthCheck's checker kind: the one module that knows every
 * implementation; the implementations know only health-checker.ts.
 */
import type { HealthCheckModel } from '../config/model.js';
import type { HealthChecker } from './health-checker.js';
import { GrpcHealthChecker } from './health-checker-grpc.js';
import { HttpHealthChecker } from './health-checker-http.js';
import { TcpHealthChecker } from './health-checker-tcp.js';

export function createHealthChecker(checker: HealthCheckModel['checker']): HealthChecker {
  switch (checker.kind) {
    case 'http':
      return new HttpHealthChecker(checker);
    case 'tcp':
      return new TcpHealthChecker(checker);
    case 'grpc':
      return new GrpcHealthChecker(checker);
  }
}
