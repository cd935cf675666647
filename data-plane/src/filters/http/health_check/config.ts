/**
 * Config factory of envoy.filters.http.health_check: validates Envoy's
 * `envoy.extensions.filters.http.health_check.v3.HealthCheck` typed_config (normalised proto3
 * JSON, already decoded strictly) into a HealthCheckFilterModel. Listed in HTTP_FILTERS
 * (filters/http/registry.ts); workers build a HealthCheckFilter from the model.
 */
import type { HttpFilterFactory } from '../filter.js';
import { HealthCheckFilter, HealthCheckStreamFilter } from './health-check-filter.js';
import type { HealthCheckFilterModel, HeaderMatcherModel } from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  join,
  messageSpec,
  objectsOf,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { headerMatcher } from '../../../config/translate-matchers.js';

const HEALTH_CHECK_FILTER_SPEC = messageSpec(
  'envoy.extensions.filters.http.health_check.v3.HealthCheck',
  {
    pass_through_mode:
      'required; false: answer 200 (503 while failing), true: forward (503 locally while failing)',
    cache_time: 'accepted only without pass_through_mode (where Envoy ignores it)',
    cluster_min_healthy_percentages:
      'answer 503 when a listed cluster is missing, empty or below its healthy + degraded %',
    headers: 'HeaderMatchers (":path", ":method", ":authority" included); all must match',
  },
);

const PERCENT_SPEC = messageSpec(
  'envoy.type.v3.Percent',
  { value: '0-100' },
  'health_check cluster_min_healthy_percentages',
);

export const HEALTH_CHECK_FILTER_TYPE_URL = TYPE_URL_PREFIX + HEALTH_CHECK_FILTER_SPEC.message;

export const healthCheckFilter: HttpFilterFactory<HealthCheckFilterModel> = {
  typeUrl: HEALTH_CHECK_FILTER_TYPE_URL,
  names: ['envoy.filters.http.health_check', 'envoy.health_check'],
  terminal: false,
  note: 'answers the proxy’s own health endpoint; /healthcheck/fail makes it 503',
  specs: [HEALTH_CHECK_FILTER_SPEC, PERCENT_SPEC],
  validate: validateHealthCheckFilter,
  createFilterFactory(config, context) {
    const filter = new HealthCheckFilter(config, context.serverHealth);
    return { create: (callbacks) => new HealthCheckStreamFilter(filter, callbacks) };
  },
};

export function validateHealthCheckFilter(
  config: JsonObject,
  path: string,
  issues: Issues,
): HealthCheckFilterModel {
  checkFields(config, HEALTH_CHECK_FILTER_SPEC, path, issues);
  const passThrough = config.pass_through_mode;
  if (typeof passThrough !== 'boolean')
    issues.add(join(path, 'pass_through_mode'), 'is required (true or false)');
  const passThroughMode = passThrough === true;
  // Envoy caches the upstream's answer for cache_time only in pass-through mode; ferry-proxy
  // does not cache, so that combination would silently change behaviour.
  if (passThroughMode && config.cache_time !== undefined)
    issues.add(
      join(path, 'cache_time'),
      'response caching in pass_through_mode is not supported by ferry-proxy',
    );
  const headers: HeaderMatcherModel[] = objectsOf(config, 'headers', path).map(([obj, p]) =>
    headerMatcher(obj, p, issues),
  );
  const clusterMinHealthyPercentages: Record<string, number> = {};
  const percentages = asObject(config.cluster_min_healthy_percentages) ?? {};
  const percentagesPath = join(path, 'cluster_min_healthy_percentages');
  for (const [cluster, value] of Object.entries(percentages)) {
    const entryPath = `${percentagesPath}["${cluster}"]`;
    const percent = asObject(value) ?? {};
    checkFields(percent, PERCENT_SPEC, entryPath, issues);
    const number = percent.value ?? 0;
    if (typeof number !== 'number' || !(number >= 0 && number <= 100)) {
      issues.add(join(entryPath, 'value'), 'must be a number from 0 to 100');
      continue;
    }
    clusterMinHealthyPercentages[cluster] = number;
  }
  return { passThroughMode, headers, clusterMinHealthyPercentages };
}
