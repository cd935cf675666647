/**
 * Shared machinery of the Envoy → model translation (translate-*.ts): the per-message allow-lists
 * (an unsupported field that changes behaviour is a NACK, never silently ignored),
 * the error collector, and readers for proto3 JSON scalars (durations, 64-bit integers,
 * DataSources, addresses).
 *
 * Input is always *normalised* proto3 JSON (`messageToJson` from @ferry/proto): snake_case keys,
 * fields at their default value omitted, durations as `"1.5s"`, 64-bit integers as strings,
 * wrappers as bare values, Anys as `{"@type": url, ...fields}`. It has already passed the strict
 * decoder and the PGV rules, so shapes are right; what is checked here is what ferry-proxy
 * honours.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { JsonValue } from '@ferry/proto';
import type { SocketAddressModel } from './model.js';

export type JsonObject = { [key: string]: JsonValue };

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Envoy's default per_connection_buffer_limit_bytes (listeners and clusters). */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;

/**
 * The fields of one Envoy message that ferry-proxy honours, with a note on how (for
 * docs/envoy-reference.md). Any other field present in a config is an error: the generic check
 * catches fields added to Envoy's protos later without anyone having to list them.
 */
export interface MessageSpec {
  /** Fully qualified proto message name. */
  readonly message: string;
  /** Set when the same message has different allow-lists by place (e.g. "upstream"). */
  readonly context?: string;
  readonly fields: Readonly<Record<string, string>>;
}

export function messageSpec(
  message: string,
  fields: Record<string, string>,
  context?: string,
): MessageSpec {
  return Object.freeze({
    message,
    ...(context !== undefined ? { context } : {}),
    fields: Object.freeze({ ...fields }),
  });
}

/** An extension (typed_config type) ferry-proxy accepts, for the reference document. */
export interface ExtensionSpec {
  /** Where it may appear, e.g. "Listener filter_chains[].filters[]". */
  readonly where: string;
  readonly typeUrl: string;
  /** Canonical extension name(s), e.g. envoy.filters.http.router. */
  readonly names: readonly string[];
  readonly note: string;
}

/**
 * Whether DataSources that name the host (a `filename`, an `environment_variable`) are read:
 * 'read' on ferry-proxy, which runs where those files and variables are; 'skip' where the
 * translator runs for someone else (the control plane's pre-flight), which must not read its own
 * files: such a source is then recorded as unchecked, and checks that need its content are left
 * out rather than failed.
 */
export type HostAccess = 'read' | 'skip';

/**
 * Collects errors for one resource. Every error reads `<label>: <path>: <reason>`, e.g.
 * `Cluster "web": lb_policy: CLUSTER_PROVIDED is not supported by ferry-proxy (...)`; the NACK's
 * error_detail joins them.
 */
export class Issues {
  readonly errors: string[] = [];
  /** With host access 'skip': the paths of host DataSources that were not read (no error). */
  readonly unchecked: string[] = [];

  constructor(
    readonly label: string,
    readonly hostAccess: HostAccess = 'read',
  ) {}

  /** A collector for a sub-check whose errors the caller rewords; same host access. */
  scratch(): Issues {
    return new Issues('', this.hostAccess);
  }

  add(path: string, reason: string): void {
    const where = [this.label, path].filter((s) => s !== '').join(': ');
    this.errors.push(where ? `${where}: ${reason}` : reason);
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }
}

export function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

export const NOT_SUPPORTED = 'not supported by ferry-proxy';

/**
 * Reports every key of `obj` that `spec` does not list (`@type` of an Any excepted). Call it once
 * per message object; the caller then reads only listed fields. `reasons` gives a more specific
 * message for some unsupported fields (e.g. SDS references).
 */
export function checkFields(
  obj: JsonObject,
  spec: MessageSpec,
  path: string,
  issues: Issues,
  reasons: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(obj)) {
    if (key === '@type' || Object.hasOwn(spec.fields, key)) continue;
    issues.add(join(path, key), Object.hasOwn(reasons, key) ? reasons[key]! : NOT_SUPPORTED);
  }
}

export function asObject(value: JsonValue | undefined): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

/** An object-valued field, or an empty object when absent (every field then at its default). */
export function objectField(obj: JsonObject, key: string): JsonObject {
  return asObject(obj[key]) ?? {};
}

export function asArray(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

/** Objects of a repeated message field with their paths. */
export function objectsOf(obj: JsonObject, key: string, path: string): Array<[JsonObject, string]> {
  return asArray(obj[key]).flatMap((item, i) => {
    const o = asObject(item);
    return o ? [[o, join(join(path, key), i)] as [JsonObject, string]] : [];
  });
}

export function str(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

export function strings(value: JsonValue | undefined): string[] {
  return asArray(value).filter((v): v is string => typeof v === 'string');
}

export function bool(value: JsonValue | undefined, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

/** Integers of any width: proto3 JSON writes 64-bit ones as strings. */
export function int(value: JsonValue | undefined, fallback: number): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return fallback;
}

/** google.protobuf.Duration JSON (`"1.5s"`, `"0.000000001s"`) → whole milliseconds, rounded up. */
export function durationMs(value: JsonValue | undefined, fallback: number): number {
  if (typeof value !== 'string') return fallback;
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (!m) return fallback;
  const nanos = Number((m[3] ?? '').padEnd(9, '0') || '0');
  const ms = Number(m[2]) * 1000 + Math.ceil(nanos / 1e6);
  return m[1] === '-' ? -ms : ms;
}

/**
 * An enum value checked against what ferry-proxy supports. Absent = the proto default, which the
 * normalised JSON omits.
 */
export function enumField<T extends string>(
  value: JsonValue | undefined,
  supported: readonly T[],
  fallback: T,
  path: string,
  issues: Issues,
): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (supported as readonly string[]).includes(value))
    return value as T;
  issues.add(
    path,
    `${JSON.stringify(value).replace(/^"|"$/g, '')} is ${NOT_SUPPORTED} (supported: ${supported.join(', ')})`,
  );
  return fallback;
}

export const DATA_SOURCE_SPEC = messageSpec('envoy.config.core.v3.DataSource', {
  filename: 'read once at translation time (a change needs a new config push)',
  inline_string: 'used as is',
  inline_bytes: 'decoded as UTF-8',
  environment_variable: 'read at translation time',
});

/**
 * A DataSource's contents. Files and environment variables are read here, in the primary, so
 * workers get plain data and a missing file is a NACK rather than a worker crash. With host
 * access 'skip' they are not read: undefined, and the path is recorded in `issues.unchecked`.
 */
export function dataSource(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
): string | undefined {
  if (!obj) return undefined;
  checkFields(obj, DATA_SOURCE_SPEC, path, issues);
  if (typeof obj.inline_string === 'string') return obj.inline_string;
  if (typeof obj.inline_bytes === 'string')
    return Buffer.from(obj.inline_bytes, 'base64').toString('utf8');
  if (issues.hostAccess === 'skip') {
    if (typeof obj.filename === 'string') issues.unchecked.push(join(path, 'filename'));
    else if (typeof obj.environment_variable === 'string')
      issues.unchecked.push(join(path, 'environment_variable'));
    return undefined;
  }
  if (typeof obj.filename === 'string') {
    try {
      return fs.readFileSync(obj.filename, 'utf8');
    } catch (err) {
      issues.add(
        join(path, 'filename'),
        `cannot read ${JSON.stringify(obj.filename)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
      return undefined;
    }
  }
  if (typeof obj.environment_variable === 'string') {
    const value = process.env[obj.environment_variable];
    if (value === undefined)
      issues.add(
        join(path, 'environment_variable'),
        `environment variable ${obj.environment_variable} is not set`,
      );
    return value;
  }
  return undefined;
}

export const ADDRESS_SPEC = messageSpec('envoy.config.core.v3.Address', {
  socket_address: 'TCP socket address (pipe and internal addresses are rejected)',
});

export const SOCKET_ADDRESS_SPEC = messageSpec('envoy.config.core.v3.SocketAddress', {
  address: 'IP address (listeners, STATIC/EDS endpoints) or DNS name (STRICT_DNS/LOGICAL_DNS)',
  port_value: 'port',
  protocol: 'TCP only',
});

export interface AddressOptions {
  /** DNS names are allowed (STRICT_DNS / LOGICAL_DNS endpoints). */
  readonly allowHostname: boolean;
}

/** An Address holding a TCP socket_address. */
export function socketAddress(
  obj: JsonObject | undefined,
  path: string,
  issues: Issues,
  options: AddressOptions,
): SocketAddressModel | undefined {
  if (!obj) {
    issues.add(path, 'required');
    return undefined;
  }
  checkFields(obj, ADDRESS_SPEC, path, issues);
  const sockPath = join(path, 'socket_address');
  const sock = asObject(obj.socket_address);
  if (!sock) {
    if (Object.keys(obj).length === 0) issues.add(sockPath, 'required');
    return undefined;
  }
  checkFields(sock, SOCKET_ADDRESS_SPEC, sockPath, issues);
  enumField(sock.protocol, ['TCP'], 'TCP', join(sockPath, 'protocol'), issues);
  const host = str(sock.address);
  const port = int(sock.port_value, 0);
  if (!options.allowHostname && net.isIP(host) === 0) {
    issues.add(
      join(sockPath, 'address'),
      `${JSON.stringify(host)} is not an IP address (DNS names need a STRICT_DNS or LOGICAL_DNS cluster)`,
    );
  }
  return { host, port };
}

export function sortedKeysJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
    return out;
  });
}

export const CONFIG_SOURCE_SPEC = messageSpec('envoy.config.core.v3.ConfigSource', {
  ads: 'the only source: resources come over the ADS stream',
  resource_api_version: 'V3 (or unset)',
});

const AGGREGATED_SOURCE_SPEC = messageSpec('envoy.config.core.v3.AggregatedConfigSource', {});

/**
 * A ConfigSource for RDS/EDS/LDS/CDS. ferry-proxy has one xDS connection, the ADS stream, so
 * `ads: {}` is the only source; file paths and separate API sources are NACKed.
 */
export function adsConfigSource(obj: JsonObject | undefined, path: string, issues: Issues): void {
  if (!obj) {
    issues.add(path, 'required');
    return;
  }
  checkFields(obj, CONFIG_SOURCE_SPEC, path, issues);
  enumField(obj.resource_api_version, ['V3'], 'V3', join(path, 'resource_api_version'), issues);
  const ads = asObject(obj.ads);
  if (ads) checkFields(ads, AGGREGATED_SOURCE_SPEC, join(path, 'ads'), issues);
  else if (Object.keys(obj).every((k) => Object.hasOwn(CONFIG_SOURCE_SPEC.fields, k)))
    issues.add(join(path, 'ads'), 'required: ferry-proxy receives resources over ADS only');
}

export const CONFIG_SOURCE_SPECS: readonly MessageSpec[] = [
  CONFIG_SOURCE_SPEC,
  AGGREGATED_SOURCE_SPEC,
];
