/**
 * Tracing of snapshot publication, used by the snapshot cache when tracing is on.
 * A store change made by an apply carries that apply's span context (see ../tracing/tracing.ts):
 * in the active context on the replica that made it, and as the revision's stored `traceparent`
 * on every replica (ChangeEvent.traceparent), so each replica's publish joins the apply's trace;
 * a revision stored without one is published in a trace of its own. The cache notes it per group, and the debounced publish of that group becomes a
 * `snapshot.build` span, a child of the first apply it contains and linked to the others. The
 * published snapshots carry a `PushOrigin`: the span options every push of them starts with,
 * linking the push to those applies and to the build — built once per publish, so a push
 * allocates nothing for it.
 */
import { performance } from 'node:perf_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Link,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import { resourceTypeByUrl } from '@ferry/proto';
import { applySpanContext, ATTR, spanContextOfTraceparent } from '../tracing/tracing.js';

/** What every push of one published snapshot starts its span with. */
export interface PushOrigin {
  readonly spanOptions: SpanOptions;
  /**
   * The store revision the snapshot was built at (`ferry.revision` on each push span, so that a
   * search for a revision finds its pushes too); absent when the cache has applied none yet.
   */
  readonly revision?: number;
}

const APPLY_LINK = { 'ferry.link': 'apply' } as const;
const BUILD_LINK = { 'ferry.link': 'snapshot.build' } as const;

export class SnapshotTracing {
  /** group → the spans of the applies whose changes wait for the group's next publish. */
  private readonly pendingApplies = new Map<string, SpanContext[]>();

  /** The last stored traceparent parsed, and its span context: one parse per revision. */
  private storedTraceparent: string | undefined;
  private storedApply: SpanContext | undefined;

  constructor(private readonly tracer: Tracer) {}

  /**
   * Called by the store watch callback for each changed group: notes the apply whose commit is
   * being delivered, if the active context carries one, else the one stored with the revision
   * (`traceparent`, ChangeEvent.traceparent).
   */
  noteChange(group: string, traceparent?: string): void {
    const apply = applySpanContext() ?? this.stored(traceparent);
    if (!apply) return;
    let pending = this.pendingApplies.get(group);
    if (!pending) this.pendingApplies.set(group, (pending = []));
    if (pending[pending.length - 1]?.spanId !== apply.spanId) pending.push(apply);
  }

  private stored(traceparent: string | undefined): SpanContext | undefined {
    if (traceparent === undefined) return undefined;
    if (traceparent !== this.storedTraceparent) {
      this.storedTraceparent = traceparent;
      this.storedApply = spanContextOfTraceparent(traceparent);
    }
    return this.storedApply;
  }

  /** The current time, as spans take it: the start of a build. */
  now(): number {
    return performance.timeOrigin + performance.now();
  }

  /**
   * Records one group's publish as a `snapshot.build` span from `startedAt` to now and returns
   * the origin its snapshots carry. Nothing changed on the wire: no span, and the applies noted
   * for the group are forgotten (their changes cancelled out within the debounce window).
   * `revision`: the store revision the build reflects (0: none applied yet).
   */
  built(
    group: string,
    changed: ReadonlySet<string>,
    startedAt: number,
    revision: number,
  ): PushOrigin | undefined {
    const applies = this.pendingApplies.get(group) ?? [];
    this.pendingApplies.delete(group);
    if (changed.size === 0) return undefined;
    const [first, ...rest] = applies;
    const span = this.tracer.startSpan(
      'snapshot.build',
      {
        startTime: startedAt,
        links: rest.map((context): Link => ({ context, attributes: APPLY_LINK })),
      },
      first ? trace.setSpanContext(ROOT_CONTEXT, first) : ROOT_CONTEXT,
    );
    if (span.isRecording()) {
      span.setAttribute(ATTR.group, group);
      if (revision > 0) span.setAttribute(ATTR.revision, revision);
      span.setAttribute(
        ATTR.types,
        [...changed].map((t) => resourceTypeByUrl(t)?.short ?? t),
      );
    }
    span.end();
    const links: Link[] = applies.map((context) => ({ context, attributes: APPLY_LINK }));
    links.push({ context: span.spanContext(), attributes: BUILD_LINK });
    return {
      spanOptions: { kind: SpanKind.PRODUCER, links },
      ...(revision > 0 ? { revision } : {}),
    };
  }
}
