/**
 * Config factory of envoy.filters.http.compressor: validates Envoy's
 * `envoy.extensions.filters.http.compressor.v3.Compressor` (and the per-route
 * `CompressorPerRoute`) into CompressorFilterModel, Envoy's defaults applied. When
 * response_direction_config is absent the deprecated top-level fields configure responses, as
 * in Envoy; when it is present they are ignored.
 */
import type { HttpFilterFactory } from '../filter.js';
import type {
  CompressorDirectionModel,
  CompressorFilterModel,
  CompressorPerRouteModel,
  CompressorResponseDirectionModel,
} from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  int,
  join,
  messageSpec,
  strings,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { COMPRESSOR_LIBRARY_SPECS, compressorLibrary } from '../common/compression-config.js';
import { runtimeFeatureFlag } from '../common/fractional-percent.js';
import { CompressorFilter } from './compressor-filter.js';

/** Envoy's default min_content_length (a configured 0 means this too). */
export const DEFAULT_MIN_CONTENT_LENGTH = 30;

const DEPRECATED = 'deprecated; used only without response_direction_config';

const COMPRESSOR_SPEC = messageSpec('envoy.extensions.filters.http.compressor.v3.Compressor', {
  compressor_library: 'required: envoy.compression.gzip.compressor or .brotli.compressor',
  request_direction_config: 'request bodies are compressed only when this is set',
  response_direction_config: 'responses (compressed by default)',
  choose_first: 'wins ties of equal q-values against other compressor filters',
  content_length: `${DEPRECATED} (min_content_length)`,
  content_type: `${DEPRECATED} (content_type)`,
  disable_on_etag_header: DEPRECATED,
  remove_accept_encoding_header: DEPRECATED,
  runtime_enabled: `${DEPRECATED} (enabled)`,
});

const COMMON_DIRECTION_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.Compressor.CommonDirectionConfig',
  {
    enabled: 'RuntimeFeatureFlag (default on)',
    min_content_length: `a Content-Length below it is not compressed (default ${DEFAULT_MIN_CONTENT_LENGTH}; 0 = default)`,
    content_type:
      'media types to compress (default: Envoy’s list of text, JavaScript, JSON, XML, SVG and gRPC-Web types); no Content-Type also compresses',
  },
);

const REQUEST_DIRECTION_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.Compressor.RequestDirectionConfig',
  { common_config: 'see CommonDirectionConfig' },
);

const RESPONSE_DIRECTION_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.Compressor.ResponseDirectionConfig',
  {
    common_config: 'see CommonDirectionConfig',
    disable_on_etag_header:
      'responses with an ETag are not compressed (default: strong ETags are removed from compressed responses, weak ones kept)',
    remove_accept_encoding_header:
      'Accept-Encoding is removed from requests so the upstream does not compress',
  },
);

const PER_ROUTE_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.CompressorPerRoute',
  {
    disabled: 'no compression on this route',
    overrides: 'see CompressorOverrides',
  },
);

const OVERRIDES_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.CompressorOverrides',
  { response_direction_config: 'present: response compression is enabled on this route' },
);

const RESPONSE_OVERRIDES_SPEC = messageSpec(
  'envoy.extensions.filters.http.compressor.v3.ResponseDirectionOverrides',
  { remove_accept_encoding_header: 'overrides the filter’s setting' },
);

export const COMPRESSOR_FILTER_TYPE_URL = TYPE_URL_PREFIX + COMPRESSOR_SPEC.message;
export const COMPRESSOR_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + PER_ROUTE_SPEC.message;

export const compressorFilter: HttpFilterFactory<CompressorFilterModel, CompressorPerRouteModel> = {
  typeUrl: COMPRESSOR_FILTER_TYPE_URL,
  names: ['envoy.filters.http.compressor'],
  terminal: false,
  note: 'compresses bodies (gzip, br) by Accept-Encoding; per route: CompressorPerRoute',
  specs: [
    COMPRESSOR_SPEC,
    COMMON_DIRECTION_SPEC,
    REQUEST_DIRECTION_SPEC,
    RESPONSE_DIRECTION_SPEC,
    PER_ROUTE_SPEC,
    OVERRIDES_SPEC,
    RESPONSE_OVERRIDES_SPEC,
    ...COMPRESSOR_LIBRARY_SPECS,
  ],
  perRouteTypeUrls: [COMPRESSOR_PER_ROUTE_TYPE_URL],
  validate: validateCompressor,
  validatePerRoute(_typeUrl, config, path, issues) {
    checkFields(config, PER_ROUTE_SPEC, path, issues);
    const overrides = asObject(config.overrides);
    // The `override` oneof is required (PGV) and `disabled` can only be true.
    if (overrides === undefined) return { responseCompressionEnabled: false };
    const overridesPath = join(path, 'overrides');
    checkFields(overrides, OVERRIDES_SPEC, overridesPath, issues);
    const response = asObject(overrides.response_direction_config);
    if (response === undefined) return {};
    checkFields(
      response,
      RESPONSE_OVERRIDES_SPEC,
      join(overridesPath, 'response_direction_config'),
      issues,
    );
    const remove = response.remove_accept_encoding_header;
    return {
      responseCompressionEnabled: true,
      ...(typeof remove === 'boolean' ? { removeAcceptEncodingHeader: remove } : {}),
    };
  },
  createFilterFactory(config, context) {
    const filter = new CompressorFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

export function validateCompressor(
  config: JsonObject,
  path: string,
  issues: Issues,
): CompressorFilterModel {
  checkFields(config, COMPRESSOR_SPEC, path, issues);
  const { name, library } = compressorLibrary(
    asObject(config.compressor_library),
    join(path, 'compressor_library'),
    issues,
  );
  const requestObj = asObject(config.request_direction_config);
  let request: CompressorDirectionModel | undefined;
  if (requestObj !== undefined) {
    const requestPath = join(path, 'request_direction_config');
    checkFields(requestObj, REQUEST_DIRECTION_SPEC, requestPath, issues);
    request = commonDirection(requestObj.common_config, join(requestPath, 'common_config'), issues);
  }
  return {
    libraryName: name,
    library,
    ...(request !== undefined ? { request } : {}),
    response: responseDirection(config, path, issues),
    chooseFirst: bool(config.choose_first, false),
  };
}

function commonDirection(
  value: JsonObject[string] | undefined,
  path: string,
  issues: Issues,
): CompressorDirectionModel {
  const obj = asObject(value) ?? {};
  checkFields(obj, COMMON_DIRECTION_SPEC, path, issues);
  return {
    enabled: runtimeFeatureFlag(asObject(obj.enabled), join(path, 'enabled'), issues),
    minContentLength: int(obj.min_content_length, 0) || DEFAULT_MIN_CONTENT_LENGTH,
    contentTypes: strings(obj.content_type).map((t) => t.trim().toLowerCase()),
  };
}

function responseDirection(
  config: JsonObject,
  path: string,
  issues: Issues,
): CompressorResponseDirectionModel {
  const response = asObject(config.response_direction_config);
  if (response !== undefined) {
    const responsePath = join(path, 'response_direction_config');
    checkFields(response, RESPONSE_DIRECTION_SPEC, responsePath, issues);
    return {
      ...commonDirection(response.common_config, join(responsePath, 'common_config'), issues),
      disableOnEtagHeader: bool(response.disable_on_etag_header, false),
      removeAcceptEncodingHeader: bool(response.remove_accept_encoding_header, false),
    };
  }
  return {
    enabled: runtimeFeatureFlag(
      asObject(config.runtime_enabled),
      join(path, 'runtime_enabled'),
      issues,
    ),
    minContentLength: int(config.content_length, 0) || DEFAULT_MIN_CONTENT_LENGTH,
    contentTypes: strings(config.content_type).map((t) => t.trim().toLowerCase()),
    disableOnEtagHeader: bool(config.disable_on_etag_header, false),
    removeAcceptEncodingHeader: bool(config.remove_accept_encoding_header, false),
  };
}
