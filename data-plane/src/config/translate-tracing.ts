/**
 * HttpConnectionManager `tracing` → TracingModel and Route `tracing` → RouteTracingModel.
 * The only provider is envoy.tracers.opentelemetry (OpenTelemetryConfig), exporting over OTLP/gRPC
 * (grpc_service.envoy_grpc) or OTLP/HTTP protobuf (http_service) to a cluster of the config.
 * Called by translate-hcm.ts and translate-route.ts; the runtime is in data-plane/src/tracing/.
 */
import type { JsonValue } from '@ferry/proto';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  durationMs,
  int,
  join,
  messageSpec,
  objectsOf,
  str,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type {
  CustomTagModel,
  OpenTelemetryProviderModel,
  RouteTracingModel,
  TracingModel,
} from './model.js';

export const OPENTELEMETRY_TRACER_NAME = 'envoy.tracers.opentelemetry';

/** Defaults from Envoy's HttpConnectionManager.Tracing and OpenTelemetryConfig docs. */
export const TRACING_DEFAULTS = Object.freeze({
  samplingPercent: 100,
  maxPathTagLength: 256,
  spawnUpstreamSpan: false,
  /** Envoy's gRPC exports have no timeout of their own; ferry-proxy bounds each export. */
  exportTimeoutMs: 10_000,
});

const HCM_TRACING_SPEC = messageSpec(
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing',
  {
    provider: 'envoy.tracers.opentelemetry only',
    client_sampling: '% of requests with x-client-trace-id that are traced (default 100)',
    random_sampling:
      '% of requests without an incoming sampling decision that are traced (default 100)',
    overall_sampling: '% applied after client/random sampling (default 100)',
    spawn_upstream_span:
      'a client span per upstream attempt, children of the server span (default false, as Envoy: the server span is the upstream’s parent)',
    custom_tags: 'literal, environment, request_header',
    max_path_tag_length: 'url.path attribute length limit (default 256)',
    verbose: 'accepted; ferry-proxy records no extra per-stream events',
  },
);

const ROUTE_TRACING_SPEC = messageSpec('envoy.config.route.v3.Tracing', {
  client_sampling: 'overrides the HCM’s client_sampling',
  random_sampling: 'overrides the HCM’s random_sampling',
  overall_sampling: 'overrides the HCM’s overall_sampling',
  custom_tags: 'added to the HCM’s (same tag name: the route’s wins)',
});

const TRACING_HTTP_SPEC = messageSpec('envoy.config.trace.v3.Tracing.Http', {
  name: `${OPENTELEMETRY_TRACER_NAME} (or omitted with the typed_config below)`,
  typed_config: 'OpenTelemetryConfig',
});

const OTEL_SPEC = messageSpec('envoy.config.trace.v3.OpenTelemetryConfig', {
  grpc_service: 'OTLP/gRPC export through envoy_grpc.cluster_name',
  http_service: 'OTLP/HTTP (protobuf) export through http_uri.cluster',
  service_name:
    'service.name resource attribute (default: the node’s cluster, else unknown_service:ferry-proxy)',
});

const GRPC_SERVICE_SPEC = messageSpec(
  'envoy.config.core.v3.GrpcService',
  {
    envoy_grpc: 'the collector cluster',
    timeout: `per export (default ${TRACING_DEFAULTS.exportTimeoutMs / 1000}s)`,
    initial_metadata: 'sent with every export',
  },
  'OpenTelemetry tracer',
);

const ENVOY_GRPC_SPEC = messageSpec(
  'envoy.config.core.v3.GrpcService.EnvoyGrpc',
  {
    cluster_name: 'cluster whose first healthy endpoint is the collector',
  },
  'OpenTelemetry tracer',
);

const HEADER_VALUE_SPEC = messageSpec(
  'envoy.config.core.v3.HeaderValue',
  { key: 'header / metadata name', value: 'value (no format specifiers, as Envoy)' },
  'OpenTelemetry tracer',
);

const HTTP_SERVICE_SPEC = messageSpec('envoy.config.core.v3.HttpService', {
  http_uri: 'uri (its path is used, e.g. /v1/traces), cluster, timeout',
  request_headers_to_add: 'headers sent with every export',
});

const HTTP_URI_SPEC = messageSpec('envoy.config.core.v3.HttpUri', {
  uri: 'the path of this URI is posted to (default /v1/traces)',
  cluster: 'cluster whose first healthy endpoint is the collector',
  timeout: 'per export',
});

const HEADER_VALUE_OPTION_SPEC = messageSpec(
  'envoy.config.core.v3.HeaderValueOption',
  { header: 'key and value' },
  'OpenTelemetry tracer',
);

const CUSTOM_TAG_SPEC = messageSpec('envoy.type.tracing.v3.CustomTag', {
  tag: 'attribute name',
  literal: 'fixed value',
  environment: 'environment variable, read at translation time',
  request_header: 'downstream request header',
});

const LITERAL_SPEC = messageSpec('envoy.type.tracing.v3.CustomTag.Literal', { value: 'value' });
const ENVIRONMENT_SPEC = messageSpec('envoy.type.tracing.v3.CustomTag.Environment', {
  name: 'variable name',
  default_value: 'used when the variable is unset',
});
const HEADER_TAG_SPEC = messageSpec('envoy.type.tracing.v3.CustomTag.Header', {
  name: 'header name',
  default_value: 'used when the header is absent',
});

const PERCENT_SPEC = messageSpec('envoy.type.v3.Percent', { value: '0-100' });
const FRACTIONAL_PERCENT_SPEC = messageSpec('envoy.type.v3.FractionalPercent', {
  numerator: 'numerator',
  denominator: 'HUNDRED (default), TEN_THOUSAND, MILLION',
});

export const TRACING_SPECS: readonly MessageSpec[] = [
  HCM_TRACING_SPEC,
  ROUTE_TRACING_SPEC,
  TRACING_HTTP_SPEC,
  OTEL_SPEC,
  GRPC_SERVICE_SPEC,
  ENVOY_GRPC_SPEC,
  HEADER_VALUE_SPEC,
  HTTP_SERVICE_SPEC,
  HTTP_URI_SPEC,
  HEADER_VALUE_OPTION_SPEC,
  CUSTOM_TAG_SPEC,
  LITERAL_SPEC,
  ENVIRONMENT_SPEC,
  HEADER_TAG_SPEC,
  PERCENT_SPEC,
  FRACTIONAL_PERCENT_SPEC,
];

export const OPENTELEMETRY_CONFIG_TYPE_URL = TYPE_URL_PREFIX + OTEL_SPEC.message;

export const TRACING_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'HttpConnectionManager tracing.provider',
    typeUrl: OPENTELEMETRY_CONFIG_TYPE_URL,
    names: [OPENTELEMETRY_TRACER_NAME],
    note: 'server span per request, client span per upstream attempt; W3C traceparent/tracestate propagated, B3 accepted; OTLP/gRPC or OTLP/HTTP export in batches (bounded queue, drops counted)',
  },
];

export interface TracingOptions {
  /** Known cluster names; a collector cluster not among them is an error (absent: unchecked). */
  readonly clusterNames?: ReadonlySet<string>;
}

/** HttpConnectionManager.tracing (the message at `path`). */
export function translateHcmTracing(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: TracingOptions,
): TracingModel {
  checkFields(obj, HCM_TRACING_SPEC, path, issues);
  const provider = asObject(obj.provider);
  const maxPath = obj.max_path_tag_length;
  return {
    clientSamplingPercent: percent(obj.client_sampling, join(path, 'client_sampling'), issues),
    randomSamplingPercent: percent(obj.random_sampling, join(path, 'random_sampling'), issues),
    overallSamplingPercent: percent(obj.overall_sampling, join(path, 'overall_sampling'), issues),
    spawnUpstreamSpan: bool(obj.spawn_upstream_span, TRACING_DEFAULTS.spawnUpstreamSpan),
    maxPathTagLength: maxPath === undefined ? TRACING_DEFAULTS.maxPathTagLength : int(maxPath, 0),
    customTags: customTags(obj, path, issues),
    ...(provider
      ? { provider: translateProvider(provider, join(path, 'provider'), issues, options) }
      : {}),
  };
}

/** Route.tracing: only the fields that are set (the rest inherit the HCM's). */
export function translateRouteTracing(
  obj: JsonObject,
  path: string,
  issues: Issues,
): RouteTracingModel {
  checkFields(obj, ROUTE_TRACING_SPEC, path, issues);
  const out: {
    -readonly [K in keyof RouteTracingModel]: RouteTracingModel[K];
  } = {};
  const fields = [
    ['client_sampling', 'clientSamplingPercent'],
    ['random_sampling', 'randomSamplingPercent'],
    ['overall_sampling', 'overallSamplingPercent'],
  ] as const;
  for (const [field, key] of fields) {
    const value = asObject(obj[field]);
    if (value) out[key] = fractionalPercent(value, join(path, field), issues);
  }
  if (obj.custom_tags !== undefined) out.customTags = customTags(obj, path, issues);
  return out;
}

function percent(value: JsonValue | undefined, path: string, issues: Issues): number {
  const obj = asObject(value);
  if (!obj) return TRACING_DEFAULTS.samplingPercent;
  checkFields(obj, PERCENT_SPEC, path, issues);
  // PGV bounds Percent.value to [0, 100]; absent = 0 (proto3 default), as Envoy reads it.
  return typeof obj.value === 'number' ? obj.value : 0;
}

const DENOMINATORS: Readonly<Record<string, number>> = {
  HUNDRED: 100,
  TEN_THOUSAND: 10_000,
  MILLION: 1_000_000,
};

function fractionalPercent(obj: JsonObject, path: string, issues: Issues): number {
  checkFields(obj, FRACTIONAL_PERCENT_SPEC, path, issues);
  const denominator = DENOMINATORS[str(obj.denominator, 'HUNDRED')] ?? 100;
  // Envoy caps a numerator above the denominator at 100%.
  return Math.min(100, (int(obj.numerator, 0) / denominator) * 100);
}

function customTags(obj: JsonObject, path: string, issues: Issues): CustomTagModel[] {
  return objectsOf(obj, 'custom_tags', path).flatMap(([tag, tagPath]): CustomTagModel[] => {
    checkFields(tag, CUSTOM_TAG_SPEC, tagPath, issues, {
      metadata: `${NOT_SUPPORTED} (literal, environment and request_header tags are)`,
    });
    const name = str(tag.tag);
    const literal = asObject(tag.literal);
    if (literal) {
      checkFields(literal, LITERAL_SPEC, join(tagPath, 'literal'), issues);
      return [{ kind: 'literal', tag: name, value: str(literal.value) }];
    }
    const env = asObject(tag.environment);
    if (env) {
      checkFields(env, ENVIRONMENT_SPEC, join(tagPath, 'environment'), issues);
      const value = process.env[str(env.name)] ?? str(env.default_value);
      return value === '' ? [] : [{ kind: 'literal', tag: name, value }];
    }
    const header = asObject(tag.request_header);
    if (header) {
      checkFields(header, HEADER_TAG_SPEC, join(tagPath, 'request_header'), issues);
      return [
        {
          kind: 'request_header',
          tag: name,
          name: str(header.name).toLowerCase(),
          defaultValue: str(header.default_value),
        },
      ];
    }
    return [];
  });
}

function translateProvider(
  obj: JsonObject,
  path: string,
  issues: Issues,
  options: TracingOptions,
): OpenTelemetryProviderModel | undefined {
  checkFields(obj, TRACING_HTTP_SPEC, path, issues);
  const name = str(obj.name);
  const typed = asObject(obj.typed_config);
  const typedPath = join(path, 'typed_config');
  if (!typed) {
    issues.add(
      name === OPENTELEMETRY_TRACER_NAME ? typedPath : join(path, 'name'),
      name === OPENTELEMETRY_TRACER_NAME
        ? 'required (an OpenTelemetryConfig naming the collector cluster)'
        : `tracer ${JSON.stringify(name)} is ${NOT_SUPPORTED} (${OPENTELEMETRY_TRACER_NAME} is)`,
    );
    return undefined;
  }
  const typeUrl = str(typed['@type']);
  if (typeUrl !== OPENTELEMETRY_CONFIG_TYPE_URL) {
    issues.add(
      typedPath,
      `tracer ${typeUrl.slice(typeUrl.lastIndexOf('/') + 1)} is ${NOT_SUPPORTED} (${OPENTELEMETRY_TRACER_NAME}: OpenTelemetryConfig is)`,
    );
    return undefined;
  }
  if (name !== '' && name !== OPENTELEMETRY_TRACER_NAME)
    issues.add(
      join(path, 'name'),
      `${JSON.stringify(name)} does not name the OpenTelemetryConfig tracer (${OPENTELEMETRY_TRACER_NAME})`,
    );
  checkFields(typed, OTEL_SPEC, typedPath, issues, {
    resource_detectors: `${NOT_SUPPORTED} (the resource is service.name and service.instance.id)`,
    sampler: `${NOT_SUPPORTED} (sampling is the HCM's client/random/overall_sampling)`,
  });
  const serviceName = str(typed.service_name);
  const grpc = asObject(typed.grpc_service);
  const http = asObject(typed.http_service);
  let provider: OpenTelemetryProviderModel | undefined;
  if (grpc) provider = grpcProvider(grpc, join(typedPath, 'grpc_service'), issues, serviceName);
  else if (http)
    provider = httpProvider(http, join(typedPath, 'http_service'), issues, serviceName);
  else
    issues.add(
      typedPath,
      'one of grpc_service or http_service is required (ferry-proxy exports every sampled span)',
    );
  if (grpc && http)
    issues.add(
      join(typedPath, 'http_service'),
      'only one of grpc_service, http_service may be set',
    );
  if (provider && options.clusterNames && !options.clusterNames.has(provider.clusterName))
    issues.add(
      join(
        typedPath,
        grpc ? 'grpc_service.envoy_grpc.cluster_name' : 'http_service.http_uri.cluster',
      ),
      `unknown cluster ${JSON.stringify(provider.clusterName)}`,
    );
  return provider;
}

function headerValues(
  items: Array<[JsonObject, string]>,
  issues: Issues,
): { key: string; value: string }[] {
  return items.map(([h, p]) => {
    checkFields(h, HEADER_VALUE_SPEC, p, issues, {
      raw_value: `${NOT_SUPPORTED} (use value)`,
    });
    return { key: str(h.key).toLowerCase(), value: str(h.value) };
  });
}

function grpcProvider(
  obj: JsonObject,
  path: string,
  issues: Issues,
  serviceName: string,
): OpenTelemetryProviderModel | undefined {
  checkFields(obj, GRPC_SERVICE_SPEC, path, issues, {
    google_grpc: `${NOT_SUPPORTED} (use envoy_grpc with a cluster)`,
  });
  const envoyGrpc = asObject(obj.envoy_grpc);
  if (!envoyGrpc) {
    if (obj.google_grpc === undefined) issues.add(join(path, 'envoy_grpc'), 'required');
    return undefined;
  }
  checkFields(envoyGrpc, ENVOY_GRPC_SPEC, join(path, 'envoy_grpc'), issues, {
    authority: `${NOT_SUPPORTED} (exports use the collector endpoint's address as :authority)`,
  });
  return {
    transport: 'grpc',
    clusterName: str(envoyGrpc.cluster_name),
    timeoutMs: durationMs(obj.timeout, TRACING_DEFAULTS.exportTimeoutMs),
    serviceName,
    headers: headerValues(objectsOf(obj, 'initial_metadata', path), issues),
  };
}

function httpProvider(
  obj: JsonObject,
  path: string,
  issues: Issues,
  serviceName: string,
): OpenTelemetryProviderModel | undefined {
  checkFields(obj, HTTP_SERVICE_SPEC, path, issues);
  const uriPath = join(path, 'http_uri');
  const uri = asObject(obj.http_uri);
  if (!uri) {
    issues.add(uriPath, 'required');
    return undefined;
  }
  checkFields(uri, HTTP_URI_SPEC, uriPath, issues);
  let httpPath = '/v1/traces';
  const raw = str(uri.uri);
  if (raw !== '') {
    try {
      // Envoy accepts "host/path" without a scheme; the host part is the cluster's business.
      const parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
      httpPath = parsed.pathname + parsed.search;
    } catch {
      issues.add(join(uriPath, 'uri'), `${JSON.stringify(raw)} is not a URI`);
    }
  }
  const headers = objectsOf(obj, 'request_headers_to_add', path).flatMap(([o, p]) => {
    checkFields(o, HEADER_VALUE_OPTION_SPEC, p, issues);
    const header = asObject(o.header);
    return header ? [[header, join(p, 'header')] as [JsonObject, string]] : [];
  });
  return {
    transport: 'http',
    clusterName: str(uri.cluster),
    httpPath,
    timeoutMs: durationMs(uri.timeout, TRACING_DEFAULTS.exportTimeoutMs),
    serviceName,
    headers: headerValues(headers, issues),
  };
}
