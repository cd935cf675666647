/**
 * A push (`xds.push`) starts its own trace, linked to the apply that caused it: a fleet of
 * thousands of nodes would otherwise make one apply's trace unreadable. Its sampling decision
 * must still follow the apply's, or with a 1% ratio only 1% of a sampled apply's pushes would be
 * recorded. This sampler does that: a root span with links is sampled exactly when one of its
 * links is; everything else goes to the configured sampler.
 */
import {
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type SpanKind,
} from '@opentelemetry/api';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';

const SAMPLED: SamplingResult = { decision: SamplingDecision.RECORD_AND_SAMPLED };
const NOT_SAMPLED: SamplingResult = { decision: SamplingDecision.NOT_RECORD };

export class LinkFollowingSampler implements Sampler {
  constructor(private readonly configured: Sampler) {}

  shouldSample(
    parent: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    if (links.length > 0 && trace.getSpanContext(parent) === undefined) {
      for (const link of links)
        if ((link.context.traceFlags & TraceFlags.SAMPLED) !== 0) return SAMPLED;
      return NOT_SAMPLED;
    }
    return this.configured.shouldSample(parent, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `LinkFollowingSampler{${this.configured.toString()}}`;
  }
}
