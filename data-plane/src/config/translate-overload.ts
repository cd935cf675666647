/**
 * The bootstrap's `overload_manager` (envoy.config.overload.v3.OverloadManager): the subset
 * ferry-proxy honours (docs/architecture.md, "Overload manager"). One resource monitor,
 * `envoy.resource_monitors.fixed_heap`, and one action, `stop_accepting_requests`, with threshold
 * triggers; everything else is refused with its field path.
 */
import {
  NOT_SUPPORTED,
  Issues,
  asObject,
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type ExtensionSpec,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';

export const FIXED_HEAP_MONITOR = 'envoy.resource_monitors.fixed_heap';
export const STOP_ACCEPTING_REQUESTS = 'envoy.overload_actions.stop_accepting_requests';

const FIXED_HEAP_TYPE =
  'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';

/** Envoy's default refresh_interval. */
const DEFAULT_REFRESH_MS = 1000;

export interface OverloadMonitorModel {
  readonly name: string;
  /** fixed_heap: pressure = the worker's heap in use / this (see overload/overload-manager.ts). */
  readonly maxHeapSizeBytes: number;
}

export interface OverloadActionModel {
  readonly name: typeof STOP_ACCEPTING_REQUESTS;
  /** The action is active while any trigger's monitor pressure is >= its threshold. */
  readonly triggers: readonly { readonly monitor: string; readonly threshold: number }[];
}

export interface OverloadModel {
  readonly refreshIntervalMs: number;
  readonly monitors: readonly OverloadMonitorModel[];
  readonly actions: readonly OverloadActionModel[];
}

const OVERLOAD_SPEC = messageSpec('envoy.config.overload.v3.OverloadManager', {
  refresh_interval: 'how often the monitors are sampled (default 1s)',
  resource_monitors: 'envoy.resource_monitors.fixed_heap only',
  actions: 'envoy.overload_actions.stop_accepting_requests with threshold triggers',
});

const MONITOR_SPEC = messageSpec('envoy.config.overload.v3.ResourceMonitor', {
  name: 'envoy.resource_monitors.fixed_heap',
  typed_config: 'FixedHeapConfig',
});

const FIXED_HEAP_SPEC = messageSpec(
  'envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
  {
    max_heap_size_bytes:
      "each worker's V8 heap plus external (Buffer) memory is compared with it, per worker",
  },
);

const ACTION_SPEC = messageSpec('envoy.config.overload.v3.OverloadAction', {
  name: 'envoy.overload_actions.stop_accepting_requests',
  triggers: 'threshold triggers',
});

const TRIGGER_SPEC = messageSpec('envoy.config.overload.v3.Trigger', {
  name: 'a configured resource monitor',
  threshold: 'active while pressure >= value',
});

const THRESHOLD_SPEC = messageSpec('envoy.config.overload.v3.ThresholdTrigger', {
  value: 'pressure threshold, 0..1',
});

export const OVERLOAD_SPECS: readonly MessageSpec[] = [
  OVERLOAD_SPEC,
  MONITOR_SPEC,
  FIXED_HEAP_SPEC,
  ACTION_SPEC,
  TRIGGER_SPEC,
  THRESHOLD_SPEC,
];

export const OVERLOAD_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'Bootstrap overload_manager.resource_monitors[]',
    typeUrl: FIXED_HEAP_TYPE,
    names: [FIXED_HEAP_MONITOR],
    note: "pressure = a worker's heap in use (V8 heap + external) / max_heap_size_bytes",
  },
];

function monitor(obj: JsonObject, path: string, issues: Issues): OverloadMonitorModel | undefined {
  checkFields(obj, MONITOR_SPEC, path, issues);
  const name = str(obj.name);
  const typed = asObject(obj.typed_config);
  const typeUrl = typed ? str(typed['@type']) : '';
  if (name !== FIXED_HEAP_MONITOR && typeUrl !== FIXED_HEAP_TYPE) {
    issues.add(
      join(path, 'name'),
      `resource monitor ${JSON.stringify(name)} is ${NOT_SUPPORTED} (use ${FIXED_HEAP_MONITOR})`,
    );
    return undefined;
  }
  if (!typed || typeUrl !== FIXED_HEAP_TYPE) {
    issues.add(join(path, 'typed_config'), `required: a ${FIXED_HEAP_TYPE.split('/')[1]}`);
    return undefined;
  }
  checkFields(typed, FIXED_HEAP_SPEC, join(path, 'typed_config'), issues);
  const max = int(typed.max_heap_size_bytes, 0);
  if (!(max > 0)) {
    issues.add(join(path, 'typed_config.max_heap_size_bytes'), 'must be greater than 0');
    return undefined;
  }
  return { name, maxHeapSizeBytes: max };
}

function action(
  obj: JsonObject,
  path: string,
  monitors: ReadonlySet<string>,
  issues: Issues,
): OverloadActionModel | undefined {
  checkFields(obj, ACTION_SPEC, path, issues);
  const name = str(obj.name);
  if (name !== STOP_ACCEPTING_REQUESTS) {
    issues.add(
      join(path, 'name'),
      `overload action ${JSON.stringify(name)} is ${NOT_SUPPORTED} (use ${STOP_ACCEPTING_REQUESTS})`,
    );
    return undefined;
  }
  const triggers: { monitor: string; threshold: number }[] = [];
  for (const [trigger, p] of objectsOf(obj, 'triggers', path)) {
    checkFields(trigger, TRIGGER_SPEC, p, issues, {
      scaled:
        `scaled triggers are ${NOT_SUPPORTED}: stop_accepting_requests is all-or-nothing ` +
        '(use threshold)',
    });
    const target = str(trigger.name);
    if (!monitors.has(target)) {
      issues.add(join(p, 'name'), `unknown resource monitor ${JSON.stringify(target)}`);
      continue;
    }
    const threshold = asObject(trigger.threshold);
    if (!threshold) {
      if (trigger.scaled === undefined) issues.add(join(p, 'threshold'), 'required');
      continue;
    }
    checkFields(threshold, THRESHOLD_SPEC, join(p, 'threshold'), issues);
    const value = typeof threshold.value === 'number' ? threshold.value : 0;
    triggers.push({ monitor: target, threshold: value });
  }
  if (triggers.length === 0) return undefined;
  return { name: STOP_ACCEPTING_REQUESTS, triggers };
}

/** Undefined when absent or invalid (then `issues` has the errors). */
export function overloadManager(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): OverloadModel | undefined {
  if (!obj) return undefined;
  checkFields(obj, OVERLOAD_SPEC, path, issues, {
    loadshed_points: `load shed points are ${NOT_SUPPORTED}`,
    buffer_factory_config: `buffer_factory_config is ${NOT_SUPPORTED}`,
  });
  const monitors: OverloadMonitorModel[] = [];
  for (const [m, p] of objectsOf(obj, 'resource_monitors', path)) {
    const model = monitor(m, p, issues);
    if (!model) continue;
    if (monitors.some((x) => x.name === model.name))
      issues.add(join(p, 'name'), `duplicate resource monitor ${JSON.stringify(model.name)}`);
    else monitors.push(model);
  }
  const names = new Set(monitors.map((m) => m.name));
  const actions: OverloadActionModel[] = [];
  for (const [a, p] of objectsOf(obj, 'actions', path)) {
    const model = action(a, p, names, issues);
    if (!model) continue;
    if (actions.some((x) => x.name === model.name))
      issues.add(join(p, 'name'), `duplicate overload action ${JSON.stringify(model.name)}`);
    else actions.push(model);
  }
  return {
    refreshIntervalMs: Math.max(1, durationMs(obj.refresh_interval, DEFAULT_REFRESH_MS)),
    monitors,
    actions,
  };
}
