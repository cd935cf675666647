/**
 * Observes the management API's writes (apply, delete, rollback): the outcome counters and, when
 * tracing is on, the write's spans (docs/architecture.md, "Observability"):
 *
 *   apply (root; or child of the caller's traceparent)   group, resources, dry_run, revision, outcome
 *   ├─ validate                                           decode + semantic checks against the store
 *   ├─ store.commit                                       the revision written
 *   └─ snapshot.build (per group, by the snapshot cache after its debounce)
 *   xds.push (own trace per node and type, linked to the apply; ended by its ACK or NACK)
 *
 * Without a tracer every scope method just runs its function: no span work at all.
 */
import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { isFerryError } from '@ferry/shared';
import type { ApiMetrics, ApplyOutcome, WriteOperation } from '../metrics/api-metrics.js';
import { ATTR, withApplySpan } from '../tracing/tracing.js';
import type { ApplyResponse } from './management-types.js';

export interface WriteAttributes {
  /** Undefined for a rollback of every group. */
  readonly group: string | undefined;
  readonly dryRun: boolean;
  /** Resources in the request (apply, delete). */
  readonly resources?: number;
}

/** What a write does inside its root span. */
export interface WriteScope {
  /** Starts the `validate` span; `end` is idempotent (a retried write validates once more). */
  startValidation(): { end(errors?: number): void };
  /** Runs the store commit in a `store.commit` span, in a context that carries the write's span. */
  commit<T extends { readonly revision: number }>(write: () => Promise<T>): Promise<T>;
}

const NO_VALIDATION = { end: (): void => undefined };
const UNTRACED: WriteScope = {
  startValidation: () => NO_VALIDATION,
  commit: (write) => write(),
};

export class WriteObserver {
  constructor(
    private readonly metrics: ApiMetrics,
    private readonly tracer: Tracer | undefined,
  ) {}

  async run(
    operation: WriteOperation,
    attributes: WriteAttributes,
    write: (scope: WriteScope) => Promise<ApplyResponse>,
  ): Promise<ApplyResponse> {
    const tracer = this.tracer;
    if (!tracer) return this.counted(operation, () => write(UNTRACED));
    const root = tracer.startSpan(operation, { kind: SpanKind.SERVER });
    if (attributes.group !== undefined) root.setAttribute(ATTR.group, attributes.group);
    if (attributes.resources !== undefined) root.setAttribute(ATTR.resources, attributes.resources);
    root.setAttribute(ATTR.dryRun, attributes.dryRun);
    const rootContext = trace.setSpan(context.active(), root);
    const scope = tracedScope(tracer, root, rootContext);
    try {
      const response = await this.counted(operation, () =>
        context.with(rootContext, () => write(scope)),
      );
      root.setAttribute(ATTR.revision, response.revision);
      root.setAttribute(ATTR.outcome, successOutcome(response));
      return response;
    } catch (err) {
      root.setAttribute(ATTR.outcome, failureOutcome(err));
      if (isFerryError(err) && err.details.length > 0)
        root.setAttribute(ATTR.errors, err.details.length);
      root.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      root.end();
    }
  }

  private async counted(
    operation: WriteOperation,
    write: () => Promise<ApplyResponse>,
  ): Promise<ApplyResponse> {
    try {
      const response = await write();
      if (operation === 'apply') this.metrics.applies(successOutcome(response)).inc();
      return response;
    } catch (err) {
      const outcome = failureOutcome(err);
      if (operation === 'apply') this.metrics.applies(outcome).inc();
      if (isValidationFailure(err)) this.metrics.validationFailures(operation).inc();
      throw err;
    }
  }
}

function tracedScope(tracer: Tracer, root: Span, rootContext: Context): WriteScope {
  const applyContext = withApplySpan(rootContext, root.spanContext());
  return {
    startValidation() {
      const span = tracer.startSpan('validate', undefined, rootContext);
      let ended = false;
      return {
        end(errors = 0) {
          if (ended) return;
          ended = true;
          if (errors > 0) {
            span.setAttribute(ATTR.errors, errors);
            span.setStatus({ code: SpanStatusCode.ERROR, message: `${errors} problems` });
          }
          span.end();
        },
      };
    },
    async commit(write) {
      const span = tracer.startSpan('store.commit', undefined, rootContext);
      try {
        const result = await context.with(trace.setSpan(applyContext, span), write);
        span.setAttribute(ATTR.revision, result.revision);
        return result;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    },
  };
}

function successOutcome(response: ApplyResponse): ApplyOutcome {
  if (response.dryRun) return 'dry_run';
  return response.changes.some((c) => c.action !== 'unchanged') ? 'applied' : 'unchanged';
}

function failureOutcome(err: unknown): ApplyOutcome {
  if (!isFerryError(err)) return 'error';
  if (err.code === 'FERRY_CONFLICT') return 'conflict';
  if (err.code === 'FERRY_FORBIDDEN') return 'forbidden';
  if (
    err.code === 'FERRY_INVALID_CONFIG' ||
    err.code === 'FERRY_REFERENCED' ||
    err.code === 'FERRY_BAD_REQUEST' ||
    err.code === 'FERRY_NOT_FOUND'
  )
    return 'invalid';
  return 'error';
}

function isValidationFailure(err: unknown): boolean {
  return (
    isFerryError(err) && (err.code === 'FERRY_INVALID_CONFIG' || err.code === 'FERRY_REFERENCED')
  );
}
