/**
 * The transport of ferry-proxy's streams to the control plane (ADS, HDS, LRS): the bootstrap xDS
 * cluster's `transport_socket`, as Envoy uses it for its xDS connection.
 *
 * An UpstreamTlsContext is translated exactly as for any cluster (config/translate-tls.ts:
 * certificates inline, from files or from static secrets of the bootstrap, trusted_ca, SAN
 * matchers, certificate hash/SPKI pins, tls_params, cipher suites), and the control plane's
 * certificate is checked by the same rules as an upstream's (upstream/upstream-tls.ts). On top,
 * what the xDS connection needs or cannot honour refuses the bootstrap with its field path:
 * - `trusted_ca` is required: Envoy without it would not verify the control plane at all, which
 *   for the connection that carries every secret is never what an operator wants;
 * - `alpn_protocols` may only name h2 (gRPC);
 * - a secret delivered over ADS cannot secure the connection ADS itself runs on; static secrets
 *   (an SdsSecretConfig with only a name) can;
 * - auto_sni / auto_san_validation take names from requests, and the xDS streams have none;
 * - HTTP/2 and common protocol options other than `connection_keepalive` (stream limits,
 *   windows, idle timeout, requests per connection) cannot be passed to grpc-js.
 * Certificate and CA files are read once, when the bootstrap is loaded.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import {
  asObject,
  join,
  objectsOf,
  type Issues,
  type JsonObject,
} from '../config/translate-common.js';
import { HTTP_PROTOCOL_OPTIONS_NAME } from '../config/translate-cluster.js';
import { translateUpstreamTls } from '../config/translate-tls.js';
import { SecretScope } from '../config/translate-secret.js';
import type { UpstreamTlsModel } from '../config/model.js';
import { UpstreamTlsPolicy, upstreamSecureContextOptions } from '../upstream/upstream-tls.js';
import { keepaliveChannelOptions, type XdsKeepalive } from './xds-keepalive.js';

/** The xDS cluster's TLS: an upstream TLS context that always carries a trusted CA. */
export type XdsTlsModel = UpstreamTlsModel & { readonly trustedCaPem: string };

export interface XdsTransport {
  /** Absent = plaintext (no transport_socket, or RawBuffer), or errors were reported. */
  readonly tls?: XdsTlsModel;
  /** ADS-delivered secrets it refers to: the bootstrap refuses these (see the module comment). */
  readonly adsSecrets: readonly string[];
}

/**
 * The xDS cluster's transport_socket (`cluster` is its bootstrap JSON, `path` its field path),
 * translated with the bootstrap's `static_resources.secrets` only: an SdsSecretConfig with
 * sds_config is left pending and returned in `adsSecrets`. Errors go to `issues`.
 */
export function xdsTransport(
  cluster: JsonObject,
  path: string,
  staticSecrets: readonly JsonObject[],
  issues: Issues,
): XdsTransport {
  checkHostNameOptions(cluster, path, issues);
  // The static secrets' own errors are reported where the bootstrap builds the data path.
  const secrets = new SecretScope(staticSecrets, [], () => undefined);
  const socketPath = join(path, 'transport_socket');
  const before = issues.errors.length;
  const model = translateUpstreamTls(
    asObject(cluster.transport_socket),
    socketPath,
    issues,
    secrets,
  );
  const adsSecrets = secrets.takePending();
  if (!model) return { adsSecrets };
  const commonPath = join(join(socketPath, 'typed_config'), 'common_tls_context');
  const common =
    asObject(asObject(asObject(cluster.transport_socket)?.typed_config)?.common_tls_context) ?? {};
  checkWatchedSecrets(common, commonPath, staticSecrets, issues);
  if (model.alpnProtocols.some((p) => p !== 'h2'))
    issues.add(join(commonPath, 'alpn_protocols'), 'the xDS connection is gRPC: h2 only');
  // A validation context that is pending or broken has its own error already.
  if (
    model.trustedCaPem === undefined &&
    adsSecrets.length === 0 &&
    issues.errors.length === before
  )
    issues.add(
      validationPath(common, commonPath),
      "trusted_ca is required for the xDS cluster: without it the control plane's certificate would not be verified (set it to the CA that signs the control plane's certificate)",
    );
  if (model.trustedCaPem === undefined || adsSecrets.length > 0 || issues.errors.length !== before)
    return { adsSecrets };
  return { tls: { ...model, trustedCaPem: model.trustedCaPem }, adsSecrets };
}

/**
 * A static secret with watched_directory asks for its files to be reloaded when they change; the
 * xDS channel's credentials are made once, so that would silently not happen.
 */
function checkWatchedSecrets(
  common: JsonObject,
  commonPath: string,
  staticSecrets: readonly JsonObject[],
  issues: Issues,
): void {
  const refs: [JsonObject, string][] = objectsOf(
    common,
    'tls_certificate_sds_secret_configs',
    commonPath,
  );
  const validationRef = asObject(common.validation_context_sds_secret_config);
  if (validationRef)
    refs.push([validationRef, join(commonPath, 'validation_context_sds_secret_config')]);
  const combinedRef = asObject(
    asObject(common.combined_validation_context)?.validation_context_sds_secret_config,
  );
  if (combinedRef)
    refs.push([
      combinedRef,
      join(join(commonPath, 'combined_validation_context'), 'validation_context_sds_secret_config'),
    ]);
  for (const [ref, refPath] of refs) {
    if (ref.sds_config !== undefined) continue;
    const secret = staticSecrets.find((s) => s.name === ref.name);
    const watched = ['tls_certificate', 'validation_context'].some(
      (field) => asObject(secret?.[field])?.watched_directory !== undefined,
    );
    if (watched)
      issues.add(
        refPath,
        `static secret ${JSON.stringify(ref.name)} sets watched_directory, but the xDS connection reads its certificates once, when the bootstrap is loaded: remove watched_directory (restart ferry-proxy to rotate them)`,
      );
  }
}

/** Where the validation context of `common` comes from (the place to say what it lacks). */
function validationPath(common: JsonObject, commonPath: string): string {
  if (common.validation_context_sds_secret_config !== undefined)
    return join(commonPath, 'validation_context_sds_secret_config');
  if (common.combined_validation_context !== undefined)
    return join(commonPath, 'combined_validation_context');
  return join(join(commonPath, 'validation_context'), 'trusted_ca');
}

/**
 * auto_sni and auto_san_validation name each connection after a request; the xDS streams have
 * no request to take a name from (sni sets the name sent).
 */
function checkHostNameOptions(cluster: JsonObject, path: string, issues: Issues): void {
  const optionsPath = join(
    join(path, 'typed_extension_protocol_options'),
    HTTP_PROTOCOL_OPTIONS_NAME,
  );
  const options = asObject(
    asObject(cluster.typed_extension_protocol_options)?.[HTTP_PROTOCOL_OPTIONS_NAME],
  );
  checkConnectionOptions(cluster, options, path, optionsPath, issues);
  const hostName = asObject(options?.upstream_http_protocol_options);
  if (!hostName) return;
  const hostNamePath = join(optionsPath, 'upstream_http_protocol_options');
  for (const field of ['auto_sni', 'auto_san_validation', 'override_auto_sni_header'])
    if (hostName[field] !== undefined && hostName[field] !== false && hostName[field] !== '')
      issues.add(
        join(hostNamePath, field),
        'not supported on the xDS cluster: its gRPC streams carry no request to take a name from (set transport_socket sni, and SAN matchers to check the name)',
      );
}

/** Http2ProtocolOptions fields the xDS channel honours; every other one is refused there. */
const XDS_HTTP2_FIELDS = new Set(['connection_keepalive']);

const NOT_ON_XDS_CONNECTION =
  "not applied to the xDS connection: ferry-proxy's gRPC client to the control plane uses its own HTTP/2 windows, stream limit and connection lifetime (only connection_keepalive is honoured there); remove it from the xDS cluster, or route data traffic through a separate cluster that sets it";

/**
 * Protocol options Envoy applies to its xDS connection as to any upstream connection, but that
 * grpc-js, which carries ferry-proxy's xDS streams, cannot be told: HTTP/2 stream limits and
 * windows, idle timeout, requests per connection. Refused with their paths rather than honoured
 * on the data path only.
 */
function checkConnectionOptions(
  cluster: JsonObject,
  options: JsonObject | undefined,
  path: string,
  optionsPath: string,
  issues: Issues,
): void {
  const http2: [JsonObject | undefined, string][] = [
    [asObject(cluster.http2_protocol_options), join(path, 'http2_protocol_options')],
  ];
  for (const key of ['explicit_http_config', 'use_downstream_protocol_config']) {
    const config = asObject(options?.[key]);
    http2.push([
      asObject(config?.http2_protocol_options),
      join(join(optionsPath, key), 'http2_protocol_options'),
    ]);
  }
  for (const [obj, objPath] of http2)
    for (const field of Object.keys(obj ?? {}))
      if (!XDS_HTTP2_FIELDS.has(field)) issues.add(join(objPath, field), NOT_ON_XDS_CONNECTION);
  if (cluster.max_requests_per_connection !== undefined)
    issues.add(join(path, 'max_requests_per_connection'), NOT_ON_XDS_CONNECTION);
  const common = asObject(options?.common_http_protocol_options);
  for (const field of Object.keys(common ?? {}))
    issues.add(
      join(join(optionsPath, 'common_http_protocol_options'), field),
      NOT_ON_XDS_CONNECTION,
    );
}

/**
 * What the gRPC clients of ADS, HDS and LRS are created with. One object is shared by the three,
 * so that grpc-js gives them one connection per control plane (equal credentials and options).
 */
export interface XdsChannel {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  /** The connection's keepalive (xds-keepalive.ts), when the xDS cluster sets one. */
  readonly keepalive?: XdsKeepalive;
}

/**
 * Plaintext (no transport_socket), or TLS as the model says; HTTP/2 PINGs when `keepalive` is
 * given (its jitter is drawn here, once per proxy: see xds-keepalive.ts).
 */
export function xdsChannel(
  model: XdsTlsModel | undefined,
  keepalive?: XdsKeepalive,
  random?: () => number,
): XdsChannel {
  const pings = keepalive ? { keepalive } : {};
  const pingOptions = keepalive ? keepaliveChannelOptions(keepalive, random) : {};
  if (!model) return { credentials: credentials.createInsecure(), options: pingOptions, ...pings };
  const context = createSecureContext(upstreamSecureContextOptions(model));
  return {
    credentials: credentials.createFromSecureContext(context, {
      checkServerIdentity: controlPlaneIdentityCheck(model),
    }),
    options: {
      ...pingOptions,
      ...(model.sni ? { 'grpc.ssl_target_name_override': model.sni } : {}),
    },
    ...pings,
  };
}

/**
 * grpc-js's checkServerIdentity for the xDS channel. Node calls it only once the chain has
 * verified against trusted_ca; it replaces Node's host name check with Envoy's rules for an
 * upstream certificate (SAN matchers and pins when configured, else nothing more).
 */
export function controlPlaneIdentityCheck(
  model: XdsTlsModel,
): (host: string, cert: PeerCertificate) => Error | undefined {
  const policy = new UpstreamTlsPolicy(model);
  return (_host, cert) => {
    const reason = policy.certificateFailure(new X509Certificate(cert.raw), true, undefined);
    return reason === undefined
      ? undefined
      : new Error(
          `the control plane's certificate fails the xDS cluster's validation_context: ${reason}`,
        );
  };
}
