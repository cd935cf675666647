/**
 * Config factory of envoy.filters.http.decompressor: validates Envoy's
 * `envoy.extensions.filters.http.decompressor.v3.Decompressor` into DecompressorFilterModel.
 * Both directions decompress by default, as in Envoy.
 */
import type { HttpFilterFactory } from '../filter.js';
import type { DecompressorDirectionModel, DecompressorFilterModel } from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  join,
  messageSpec,
  objectField,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { DECOMPRESSOR_LIBRARY_SPECS, decompressorLibrary } from '../common/compression-config.js';
import { runtimeFeatureFlag } from '../common/fractional-percent.js';
import { DecompressorFilter } from './decompressor-filter.js';

const DECOMPRESSOR_SPEC = messageSpec(
  'envoy.extensions.filters.http.decompressor.v3.Decompressor',
  {
    decompressor_library: 'required: envoy.compression.gzip.decompressor or .brotli.decompressor',
    request_direction_config: 'requests (decompressed by default)',
    response_direction_config: 'responses (decompressed by default)',
  },
);

const COMMON_SPEC = messageSpec(
  'envoy.extensions.filters.http.decompressor.v3.Decompressor.CommonDirectionConfig',
  {
    enabled: 'RuntimeFeatureFlag (default on)',
    ignore_no_transform_header: 'decompress even with Cache-Control: no-transform',
  },
);

const REQUEST_SPEC = messageSpec(
  'envoy.extensions.filters.http.decompressor.v3.Decompressor.RequestDirectionConfig',
  {
    common_config: 'see CommonDirectionConfig',
    advertise_accept_encoding:
      'default true: with response decompression on, the library’s coding is added to Accept-Encoding',
  },
);

const RESPONSE_SPEC = messageSpec(
  'envoy.extensions.filters.http.decompressor.v3.Decompressor.ResponseDirectionConfig',
  { common_config: 'see CommonDirectionConfig' },
);

export const DECOMPRESSOR_FILTER_TYPE_URL = TYPE_URL_PREFIX + DECOMPRESSOR_SPEC.message;

export const decompressorFilter: HttpFilterFactory<DecompressorFilterModel> = {
  typeUrl: DECOMPRESSOR_FILTER_TYPE_URL,
  names: ['envoy.filters.http.decompressor'],
  terminal: false,
  note: 'decompresses gzip/br request and response bodies; output bounded by max_inflate_ratio (the stream fails beyond it)',
  specs: [
    DECOMPRESSOR_SPEC,
    COMMON_SPEC,
    REQUEST_SPEC,
    RESPONSE_SPEC,
    ...DECOMPRESSOR_LIBRARY_SPECS,
  ],
  validate: validateDecompressor,
  createFilterFactory(config, context) {
    const filter = new DecompressorFilter(config, context);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

export function validateDecompressor(
  config: JsonObject,
  path: string,
  issues: Issues,
): DecompressorFilterModel {
  checkFields(config, DECOMPRESSOR_SPEC, path, issues);
  const { name, library } = decompressorLibrary(
    asObject(config.decompressor_library),
    join(path, 'decompressor_library'),
    issues,
  );
  const requestPath = join(path, 'request_direction_config');
  const request = objectField(config, 'request_direction_config');
  checkFields(request, REQUEST_SPEC, requestPath, issues);
  const responsePath = join(path, 'response_direction_config');
  const response = objectField(config, 'response_direction_config');
  checkFields(response, RESPONSE_SPEC, responsePath, issues);
  return {
    libraryName: name,
    library,
    request: {
      ...direction(request, requestPath, issues),
      advertiseAcceptEncoding: bool(request.advertise_accept_encoding, true),
    },
    response: direction(response, responsePath, issues),
  };
}

function direction(obj: JsonObject, path: string, issues: Issues): DecompressorDirectionModel {
  const commonPath = join(path, 'common_config');
  const common = objectField(obj, 'common_config');
  checkFields(common, COMMON_SPEC, commonPath, issues);
  return {
    enabled: runtimeFeatureFlag(asObject(common.enabled), join(commonPath, 'enabled'), issues),
    ignoreNoTransformHeader: bool(common.ignore_no_transform_header, false),
  };
}
