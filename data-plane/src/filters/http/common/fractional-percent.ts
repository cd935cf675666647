/**
 * Envoy's FractionalPercent, RuntimeFractionalPercent and RuntimeFeatureFlag as the HTTP filters
 * read them (fault percentages, CORS filter_enabled / shadow_enabled, compressor and
 * decompressor `enabled`). ferry-proxy has no runtime layer, so a runtime_key is accepted and
 * the default_value applies, as in Envoy when the key is not set in the runtime.
 */
import type { FractionalPercentModel } from '../../../config/model.js';
import type { RandomSource } from '../../../router/route-table.js';
import {
  bool,
  checkFields,
  int,
  join,
  messageSpec,
  objectField,
  str,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from '../../../config/translate-common.js';

const DENOMINATORS: Readonly<Record<string, number>> = {
  HUNDRED: 100,
  TEN_THOUSAND: 10_000,
  MILLION: 1_000_000,
};

const FRACTIONAL_PERCENT_SPEC = messageSpec(
  'envoy.type.v3.FractionalPercent',
  { numerator: 'numerator', denominator: 'HUNDRED (default), TEN_THOUSAND, MILLION' },
  'HTTP filters',
);

const RUNTIME_FRACTIONAL_PERCENT_SPEC = messageSpec(
  'envoy.config.core.v3.RuntimeFractionalPercent',
  {
    default_value: 'the percentage',
    runtime_key: 'accepted; ferry-proxy has no runtime, so default_value applies',
  },
);

const RUNTIME_FEATURE_FLAG_SPEC = messageSpec('envoy.config.core.v3.RuntimeFeatureFlag', {
  default_value: 'the flag',
  runtime_key: 'accepted; ferry-proxy has no runtime, so default_value applies',
});

export const PERCENT_SPECS: readonly MessageSpec[] = [
  FRACTIONAL_PERCENT_SPEC,
  RUNTIME_FRACTIONAL_PERCENT_SPEC,
  RUNTIME_FEATURE_FLAG_SPEC,
];

/** An absent FractionalPercent is 0% (the proto default), as Envoy reads it. */
export const ZERO_PERCENT: FractionalPercentModel = Object.freeze({
  numerator: 0,
  denominator: 100,
});

export function fractionalPercent(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): FractionalPercentModel {
  if (obj === undefined) return ZERO_PERCENT;
  checkFields(obj, FRACTIONAL_PERCENT_SPEC, path, issues);
  return {
    numerator: int(obj.numerator, 0),
    denominator: DENOMINATORS[str(obj.denominator, 'HUNDRED')] ?? 100,
  };
}

export function runtimeFractionalPercent(
  obj: JsonObject,
  path: string,
  issues: Issues,
): FractionalPercentModel {
  checkFields(obj, RUNTIME_FRACTIONAL_PERCENT_SPEC, path, issues);
  return fractionalPercent(objectField(obj, 'default_value'), join(path, 'default_value'), issues);
}

/** A RuntimeFeatureFlag's value; an absent flag is `fallback` (Envoy: enabled). */
export function runtimeFeatureFlag(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
  fallback = true,
): boolean {
  if (obj === undefined) return fallback;
  checkFields(obj, RUNTIME_FEATURE_FLAG_SPEC, path, issues);
  return bool(obj.default_value, fallback);
}

/**
 * Envoy's featureEnabled(FractionalPercent): true for `numerator / denominator` of the calls.
 * The random source is only consulted for percentages strictly between 0 and 100%.
 */
export function percentEnabled(percent: FractionalPercentModel, random: RandomSource): boolean {
  if (percent.numerator <= 0) return false;
  if (percent.numerator >= percent.denominator) return true;
  return Math.floor(random() * percent.denominator) < percent.numerator;
}
