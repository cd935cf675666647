/**
 * The validated configs of the HTTP filters under filters/http/ (what each factory's validate /
 * validatePerRoute returns): plain data, like the rest of the model (config/model.ts re-exports
 * these). Envoy's defaults are applied by translation; fields are named after Envoy's.
 */
import type {
  HeaderMatcherModel,
  HeaderValueOptionModel,
  StringMatcherModel,
} from './model-values.js';

/** envoy.type.v3.FractionalPercent: `numerator / denominator` of requests (numerator capped). */
export interface FractionalPercentModel {
  readonly numerator: number;
  /** 100, 10 000 or 1 000 000. */
  readonly denominator: number;
}

// ---------------------------------------------------------------- buffer

/** envoy.extensions.filters.http.buffer.v3.Buffer. */
export interface BufferFilterModel {
  /** max_request_bytes: a longer request body is answered 413. */
  readonly maxRequestBytes: number;
}

/** BufferPerRoute: `disabled`, or a buffer config of its own for the route. */
export type BufferPerRouteModel =
  { readonly disabled: true } | { readonly disabled: false; readonly buffer: BufferFilterModel };

// ---------------------------------------------------------------- fault

export type FaultAbortModel = (
  | { readonly kind: 'http'; readonly httpStatus: number }
  | { readonly kind: 'grpc'; readonly grpcStatus: number }
  /** header_abort: x-envoy-fault-abort-request / x-envoy-fault-abort-grpc-request decide. */
  | { readonly kind: 'header' }
) & { readonly percentage: FractionalPercentModel };

export type FaultDelayModel = (
  | { readonly kind: 'fixed'; readonly fixedDelayMs: number }
  /** header_delay: x-envoy-fault-delay-request (milliseconds) decides. */
  | { readonly kind: 'header' }
) & { readonly percentage: FractionalPercentModel };

/** envoy.extensions.filters.http.fault.v3.HTTPFault (also its per-route form). */
export interface FaultFilterModel {
  readonly delay?: FaultDelayModel;
  readonly abort?: FaultAbortModel;
  /** upstream_cluster: only requests routed to this cluster ("" = any). */
  readonly upstreamCluster: string;
  /** headers: all must match. */
  readonly headers: readonly HeaderMatcherModel[];
  /** downstream_nodes: x-envoy-downstream-service-node must be one of them (empty = any). */
  readonly downstreamNodes: readonly string[];
  /** max_active_faults (absent = unlimited). */
  readonly maxActiveFaults?: number;
  /** filter_metadata: set as dynamic metadata under the filter's name when a fault is injected. */
  readonly filterMetadata?: Readonly<Record<string, unknown>>;
}

// ---------------------------------------------------------------- cors

/**
 * envoy.extensions.filters.http.cors.v3.CorsPolicy (typed_per_filter_config), or the deprecated
 * inline envoy.config.route.v3.CorsPolicy. Unset fields fall back to less specific levels.
 */
export interface CorsPolicyModel {
  readonly allowOriginStringMatch: readonly StringMatcherModel[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials?: boolean;
  /** filter_enabled (absent: enabled for every request). */
  readonly filterEnabled?: FractionalPercentModel;
  /** shadow_enabled (absent: no shadow evaluation). */
  readonly shadowEnabled?: FractionalPercentModel;
  readonly allowPrivateNetworkAccess?: boolean;
  /** forward_not_matching_preflights (absent: true). */
  readonly forwardNotMatchingPreflights?: boolean;
}

// ---------------------------------------------------------------- header_mutation

export type HeaderMutationOpModel =
  | { readonly kind: 'remove'; readonly name: string }
  | { readonly kind: 'append'; readonly option: HeaderValueOptionModel };

/** envoy.extensions.filters.http.header_mutation.v3.Mutations. */
export interface HeaderMutationListsModel {
  readonly request: readonly HeaderMutationOpModel[];
  readonly response: readonly HeaderMutationOpModel[];
}

/** envoy.extensions.filters.http.header_mutation.v3.HeaderMutation. */
export interface HeaderMutationFilterModel {
  readonly mutations: HeaderMutationListsModel;
  /** most_specific_header_mutations_wins: per-route levels applied least specific first. */
  readonly mostSpecificHeaderMutationsWins: boolean;
}

/** HeaderMutationPerRoute. */
export interface HeaderMutationPerRouteModel {
  readonly mutations: HeaderMutationListsModel;
}

// ---------------------------------------------------------------- compression libraries

/** envoy.extensions.compression.gzip.compressor.v3.Gzip with Envoy's defaults. */
export interface GzipCompressorModel {
  readonly kind: 'gzip';
  /** zlib level 1-9, or -1 for zlib's default (6). */
  readonly level: number;
  readonly strategy: 'DEFAULT_STRATEGY' | 'FILTERED' | 'HUFFMAN_ONLY' | 'RLE' | 'FIXED';
  /** memory_level (default 5). */
  readonly memoryLevel: number;
  /** window_bits (default 12). */
  readonly windowBits: number;
  /** chunk_size (default 4096): the size of zlib's output chunks. */
  readonly chunkSize: number;
}

/** envoy.extensions.compression.brotli.compressor.v3.Brotli with Envoy's defaults. */
export interface BrotliCompressorModel {
  readonly kind: 'brotli';
  /** quality 0-11 (default 3). */
  readonly quality: number;
  readonly mode: 'DEFAULT' | 'GENERIC' | 'TEXT' | 'FONT';
  /** window_bits (default 18). */
  readonly windowBits: number;
  /** input_block_bits (default 24). */
  readonly inputBlockBits: number;
  readonly chunkSize: number;
  readonly disableLiteralContextModeling: boolean;
}

export type CompressorLibraryModel = GzipCompressorModel | BrotliCompressorModel;

/** envoy.extensions.compression.gzip.decompressor.v3.Gzip with Envoy's defaults. */
export interface GzipDecompressorModel {
  readonly kind: 'gzip';
  /** window_bits (default 15). */
  readonly windowBits: number;
  readonly chunkSize: number;
  /** max_inflate_ratio (default 100): output may be at most this many times the input so far. */
  readonly maxInflateRatio: number;
}

/** envoy.extensions.compression.brotli.decompressor.v3.Brotli. */
export interface BrotliDecompressorModel {
  readonly kind: 'brotli';
  readonly chunkSize: number;
  readonly disableRingBufferReallocation: boolean;
  /** Envoy's fixed inflate ratio bound for brotli (100). */
  readonly maxInflateRatio: number;
}

export type DecompressorLibraryModel = GzipDecompressorModel | BrotliDecompressorModel;

// ---------------------------------------------------------------- compressor

/** Compressor.CommonDirectionConfig with Envoy's defaults. */
export interface CompressorDirectionModel {
  /** enabled.default_value (default true). */
  readonly enabled: boolean;
  /** min_content_length (default 30; 0 also means 30, as in Envoy). */
  readonly minContentLength: number;
  /** content_type, lower-cased (empty: Envoy's default list). */
  readonly contentTypes: readonly string[];
}

export interface CompressorResponseDirectionModel extends CompressorDirectionModel {
  readonly disableOnEtagHeader: boolean;
  readonly removeAcceptEncodingHeader: boolean;
}

/** envoy.extensions.filters.http.compressor.v3.Compressor. */
export interface CompressorFilterModel {
  /** compressor_library.name (stats). */
  readonly libraryName: string;
  readonly library: CompressorLibraryModel;
  /** request_direction_config (absent: requests are not compressed, Envoy's default). */
  readonly request?: CompressorDirectionModel;
  readonly response: CompressorResponseDirectionModel;
  readonly chooseFirst: boolean;
}

/** CompressorPerRoute: `disabled` or `overrides`; absent fields keep the filter's settings. */
export interface CompressorPerRouteModel {
  /** false: disabled; true: `overrides.response_direction_config` is present (enables). */
  readonly responseCompressionEnabled?: boolean;
  readonly removeAcceptEncodingHeader?: boolean;
}

// ---------------------------------------------------------------- decompressor

export interface DecompressorDirectionModel {
  /** common_config.enabled.default_value (default true). */
  readonly enabled: boolean;
  readonly ignoreNoTransformHeader: boolean;
}

/** envoy.extensions.filters.http.decompressor.v3.Decompressor. */
export interface DecompressorFilterModel {
  /** decompressor_library.name. */
  readonly libraryName: string;
  readonly library: DecompressorLibraryModel;
  readonly request: DecompressorDirectionModel & {
    /** advertise_accept_encoding (default true). */
    readonly advertiseAcceptEncoding: boolean;
  };
  readonly response: DecompressorDirectionModel;
}
