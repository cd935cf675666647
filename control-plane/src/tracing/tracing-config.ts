/**
 * The control plane's tracing configuration, from the standard OpenTelemetry
 * environment variables and the `--otlp-endpoint` / `--otlp-protocol` flags, which override them.
 * Tracing is off unless an endpoint is given: by default the control plane does no span work.
 *
 * Read here (the rest of OTEL_EXPORTER_OTLP_* — headers, TLS files, compression, timeout — is
 * read by the exporter itself):
 * - OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none (or otlp, the default): off switches for
 *   an endpoint that comes from the environment; `--otlp-endpoint` is an explicit request and wins.
 * - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else OTEL_EXPORTER_OTLP_ENDPOINT (for
 *   http/protobuf, `v1/traces` is appended to its path, as the specification says).
 * - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL: grpc | http/protobuf
 *   (default http/protobuf, the specification's default).
 * - OTEL_SERVICE_NAME (default ferry-control-plane).
 * - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG: always_on, always_off, traceidratio and their
 *   parentbased_ forms (default parentbased_always_on; ratio default 1).
 * - OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY,
 *   OTEL_BSP_EXPORT_TIMEOUT: the bounded export queue.
 *
 * `--otlp-endpoint URL`: for http, a URL without a path gets `/v1/traces`; one with a path is
 * used as is. A bare `host:port` means `http://host:port`. `--otlp-protocol grpc|http`.
 */

export type OtlpProtocol = 'grpc' | 'http/protobuf';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface BatchConfig {
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
}

export interface TracingConfig {
  /** grpc: the collector's `http(s)://host:port`; http/protobuf: the full URL spans are POSTed to. */
  readonly endpoint: string;
  readonly protocol: OtlpProtocol;
  readonly serviceName: string;
  readonly sampler: SamplerName;
  /** The ratio of the traceidratio samplers, 0..1. */
  readonly samplerRatio: number;
  readonly batch: BatchConfig;
}

export interface TracingFlags {
  readonly otlpEndpoint?: string | undefined;
  readonly otlpProtocol?: string | undefined;
}

/** `value` undefined: tracing is off. */
export type TracingConfigResult =
  | { readonly ok: true; readonly value: TracingConfig | undefined }
  | { readonly ok: false; readonly errors: string[] };

export const DEFAULT_SERVICE_NAME = 'ferry-control-plane';

const SAMPLERS: ReadonlySet<string> = new Set<SamplerName>([
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
]);

const BATCH_VARIABLES = [
  ['OTEL_BSP_MAX_QUEUE_SIZE', 'maxQueueSize', 2048],
  ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'maxExportBatchSize', 512],
  ['OTEL_BSP_SCHEDULE_DELAY', 'scheduledDelayMillis', 5000],
  ['OTEL_BSP_EXPORT_TIMEOUT', 'exportTimeoutMillis', 30000],
] as const;

type Environment = Readonly<Record<string, string | undefined>>;

/** Pure: reads only `env` and `flags`, so every rule is testable without touching the process. */
export function tracingConfig(env: Environment, flags: TracingFlags = {}): TracingConfigResult {
  const errors: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };

  const protocol = readProtocol(flags.otlpProtocol, read, errors);
  const exporters = (read('OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((e) => e.trim());
  for (const e of exporters) {
    if (e !== 'otlp' && e !== 'none')
      errors.push(`OTEL_TRACES_EXPORTER: "${e}" is not supported (otlp or none)`);
  }
  const envOff = read('OTEL_SDK_DISABLED')?.toLowerCase() === 'true' || !exporters.includes('otlp');

  let endpoint: string | undefined;
  const flagEndpoint = flags.otlpEndpoint?.trim();
  if (flagEndpoint) {
    endpoint = resolveEndpoint(flagEndpoint, '--otlp-endpoint', protocol, 'flag', errors);
  } else if (!envOff) {
    const specific = read('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const generic = read('OTEL_EXPORTER_OTLP_ENDPOINT');
    if (specific !== undefined)
      endpoint = resolveEndpoint(
        specific,
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
        protocol,
        'as-is',
        errors,
      );
    else if (generic !== undefined)
      endpoint = resolveEndpoint(generic, 'OTEL_EXPORTER_OTLP_ENDPOINT', protocol, 'base', errors);
  }

  const sampler = (read('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  if (!SAMPLERS.has(sampler))
    errors.push(`OTEL_TRACES_SAMPLER: "${sampler}" is not supported (${[...SAMPLERS].join(', ')})`);
  let samplerRatio = 1;
  const ratioText = read('OTEL_TRACES_SAMPLER_ARG');
  if (ratioText !== undefined && sampler.endsWith('traceidratio')) {
    samplerRatio = Number(ratioText);
    if (!Number.isFinite(samplerRatio) || samplerRatio < 0 || samplerRatio > 1)
      errors.push(`OTEL_TRACES_SAMPLER_ARG: expected a ratio 0..1, got "${ratioText}"`);
  }

  const batch: Record<string, number> = {};
  for (const [name, key, fallback] of BATCH_VARIABLES) {
    const text = read(name);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(value) || value <= 0)
      errors.push(`${name}: expected a positive integer, got "${text}"`);
    batch[key] = value;
  }
  if (batch.maxExportBatchSize! > batch.maxQueueSize!)
    errors.push(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE: ${batch.maxExportBatchSize} exceeds OTEL_BSP_MAX_QUEUE_SIZE ${batch.maxQueueSize}`,
    );

  if (errors.length > 0) return { ok: false, errors };
  if (endpoint === undefined) return { ok: true, value: undefined };
  return {
    ok: true,
    value: {
      endpoint,
      protocol,
      serviceName: read('OTEL_SERVICE_NAME') ?? DEFAULT_SERVICE_NAME,
      sampler: sampler as SamplerName,
      samplerRatio,
      batch: batch as unknown as BatchConfig,
    },
  };
}

function readProtocol(
  flag: string | undefined,
  read: (name: string) => string | undefined,
  errors: string[],
): OtlpProtocol {
  if (flag !== undefined) {
    if (flag === 'grpc') return 'grpc';
    if (flag === 'http' || flag === 'http/protobuf') return 'http/protobuf';
    errors.push(`--otlp-protocol: expected grpc or http, got "${flag}"`);
    return 'http/protobuf';
  }
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const value = read(name);
    if (value === undefined) continue;
    if (value === 'grpc' || value === 'http/protobuf') return value;
    errors.push(`${name}: "${value}" is not supported (grpc or http/protobuf)`);
    return 'http/protobuf';
  }
  return 'http/protobuf';
}

/**
 * `as-is`: a signal-specific URL; `base`: the generic endpoint, to which http/protobuf appends
 * `v1/traces`; `flag`: like `base` when the URL has no path, else as is.
 */
function resolveEndpoint(
  text: string,
  source: string,
  protocol: OtlpProtocol,
  mode: 'as-is' | 'base' | 'flag',
  errors: string[],
): string | undefined {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    errors.push(`${source}: "${text}" is not a URL (http://host:port)`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push(`${source}: "${text}" must be an http:// or https:// URL`);
    return undefined;
  }
  if (protocol === 'grpc') return `${url.protocol}//${url.host}`;
  const bare = url.pathname === '/' || url.pathname === '';
  if (mode === 'as-is' || (mode === 'flag' && !bare)) return url.href;
  url.pathname = `${url.pathname.replace(/\/$/, '')}/v1/traces`;
  return url.href;
}
