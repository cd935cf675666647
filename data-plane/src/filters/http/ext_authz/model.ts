/**
 * The validated config of envoy.filters.http.ext_authz as it crosses IPC to the workers (plain
 * data): what config.ts makes of `envoy.extensions.filters.http.ext_authz.v3.ExtAuthz` and
 * `ExtAuthzPerRoute`.
 */
import type { FractionalPercentModel, StringMatcherModel } from '../../../config/model.js';
import type { GrpcServiceModel } from '../../../upstream/async-grpc-client.js';

/** with_request_body (BufferSettings). */
export interface BufferSettingsModel {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  readonly packAsBytes: boolean;
}

/** http_service. */
export interface HttpAuthzServiceModel {
  readonly cluster: string;
  readonly pathPrefix: string;
  /** authorization_request.allowed_headers, besides the defaults and ExtAuthz.allowed_headers. */
  readonly allowedHeaders: readonly StringMatcherModel[];
  /** authorization_request.headers_to_add: `[name, value, ...]`, set on the check request. */
  readonly headersToAdd: readonly string[];
  readonly allowedUpstreamHeaders: readonly StringMatcherModel[];
  readonly allowedUpstreamHeadersToAppend: readonly StringMatcherModel[];
  /** Empty: every header but Host goes to a denied client. */
  readonly allowedClientHeaders: readonly StringMatcherModel[];
  readonly allowedClientHeadersOnSuccess: readonly StringMatcherModel[];
  readonly dynamicMetadataFromHeaders: readonly StringMatcherModel[];
}

export interface ExtAuthzModel {
  readonly grpc?: GrpcServiceModel;
  readonly http?: HttpAuthzServiceModel;
  /** The call's timeout (grpc_service.timeout or server_uri.timeout; gRPC default 200 ms). */
  readonly timeoutMs: number;
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  /** status_on_error (default 403). */
  readonly statusOnError: number;
  readonly withRequestBody?: BufferSettingsModel;
  readonly clearRouteCache: boolean;
  readonly validateMutations: boolean;
  readonly includePeerCertificate: boolean;
  readonly includeTlsSession: boolean;
  readonly statPrefix: string;
  /** filter_enabled; undefined: every request. */
  readonly filterEnabled?: FractionalPercentModel;
  readonly denyAtDisable: boolean;
  /** ExtAuthz.allowed_headers; undefined: not set (gRPC: every header). */
  readonly allowedHeaders?: readonly StringMatcherModel[];
  readonly disallowedHeaders: readonly StringMatcherModel[];
  readonly enableDynamicMetadataIngestion: boolean;
}

/** ExtAuthzPerRoute. */
export interface ExtAuthzPerRouteModel {
  readonly disabled: boolean;
  readonly contextExtensions: Readonly<Record<string, string>>;
  readonly disableRequestBodyBuffering: boolean;
  readonly withRequestBody?: BufferSettingsModel;
}
