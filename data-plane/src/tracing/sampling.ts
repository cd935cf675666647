/**
 * The sampling decision of a downstream request (Envoy's HCM tracing, with the OpenTelemetry
 * tracer's parent-based rule):
 * 1. an incoming sampling decision (traceparent flags, B3 sampling state) is honoured as is;
 * 2. otherwise a request carrying x-client-trace-id is traced at client_sampling %, any request
 *    at random_sampling %;
 * 3. and what 2. traced survives at overall_sampling %.
 * Route.tracing overrides each percentage it sets (the caller merges them).
 */

export interface SamplingPercents {
  readonly client: number;
  readonly random: number;
  readonly overall: number;
}

/** A uniform number in [0, 1) (Math.random; injected by tests). */
export type RandomSource = () => number;

function hit(percent: number, random: RandomSource): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return random() * 100 < percent;
}

export function decideSampling(
  incoming: boolean | undefined,
  hasClientTraceId: boolean,
  percents: SamplingPercents,
  random: RandomSource,
): boolean {
  if (incoming !== undefined) return incoming;
  const traced = (hasClientTraceId && hit(percents.client, random)) || hit(percents.random, random);
  return traced && hit(percents.overall, random);
}
