/**
 * Envoy's access log command operators: what each reads from an AccessLogRecord. A reader is
 * built once per operator occurrence when a format is compiled (access-log-format.ts); per
 * request it only reads fields. `undefined` (or '') means "not available": "-" in text, null
 * in JSON, omitted with omit_empty_values.
 */
import { connectionIdOf } from '../http/codec/connection-id.js';
import os from 'node:os';
import { formatHostPort } from '@ferry/shared';
import type { AccessLogRecord } from './access-log-record.js';
import { compileTimeFormat } from './access-log-time.js';

/** Operators without arguments (START_TIME may have one: its time format). */
export const SIMPLE_OPERATORS: readonly string[] = [
  'START_TIME',
  'PROTOCOL',
  'RESPONSE_CODE',
  'RESPONSE_FLAGS',
  'RESPONSE_CODE_DETAILS',
  'BYTES_RECEIVED',
  'BYTES_SENT',
  'DURATION',
  'REQUEST_DURATION',
  'RESPONSE_DURATION',
  'UPSTREAM_HOST',
  'UPSTREAM_CLUSTER',
  'UPSTREAM_TRANSPORT_FAILURE_REASON',
  'UPSTREAM_REQUEST_ATTEMPT_COUNT',
  'ROUTE_NAME',
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'REQUESTED_SERVER_NAME',
  'CONNECTION_ID',
  'HOSTNAME',
  'TRACE_ID',
];

/** Operators whose value is a number (a JSON number in json_format). */
export const NUMERIC_OPERATORS: ReadonlySet<string> = new Set([
  'RESPONSE_CODE',
  'BYTES_RECEIVED',
  'BYTES_SENT',
  'DURATION',
  'REQUEST_DURATION',
  'RESPONSE_DURATION',
  'UPSTREAM_REQUEST_ATTEMPT_COUNT',
  'CONNECTION_ID',
]);

/** One operator's value for a request: a string, a number, or undefined (not available). */
export type ValueReader = (r: AccessLogRecord) => string | number | undefined;

/** A parsed operator occurrence. */
export interface OperatorSpec {
  readonly name: string;
  /** REQ/RESP: the header, and the alternative after "?" ("" when none); lower case. */
  readonly header?: string;
  readonly altHeader?: string;
  /** START_TIME(FORMAT). */
  readonly timeFormat?: string;
  /** DYNAMIC_METADATA(NAMESPACE:KEY:...): the namespace and the key path (may be empty). */
  readonly metadataNamespace?: string;
  readonly metadataPath?: readonly string[];
}

/**
 * %DYNAMIC_METADATA(ns:key:...)%: the value at the path in the namespace the filters wrote;
 * objects, arrays and booleans render as JSON (Envoy prints the protobuf Struct value as JSON).
 */
function dynamicMetadata(namespace: string, path: readonly string[]): ValueReader {
  return (r) => {
    let value: unknown = r.dynamicMetadata?.get(namespace);
    for (const key of path) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Record<string, unknown>)[key];
    }
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string' || typeof value === 'number') return value;
    return JSON.stringify(value);
  };
}

function requestHeader(r: AccessLogRecord, name: string): string | undefined {
  switch (name) {
    case ':method':
      return r.method;
    case ':path':
      return r.path;
    case ':authority':
    case 'host':
      return r.authority;
    case ':scheme':
    case ':protocol':
      return undefined;
    case 'x-request-id':
      return r.requestId || r.requestHeaders?.get(name);
    default:
      return r.requestHeaders?.get(name);
  }
}

function address(host: string | undefined, port: number | undefined): string | undefined {
  if (host === undefined) return undefined;
  return formatHostPort(host, port ?? 0);
}

/** W3C traceparent: version-traceid-parentid-flags; the trace id when well formed. */
function traceIdOf(r: AccessLogRecord): string | undefined {
  if (r.traceId !== undefined) return r.traceId;
  const tp = r.requestHeaders?.get('traceparent');
  if (typeof tp !== 'string' || tp.length < 55 || tp[2] !== '-' || tp[35] !== '-') return undefined;
  return tp.slice(3, 35);
}

/** Envoy's %RESPONSE_CODE_DETAILS% values, derived from how the request ended. */
const DETAILS_BY_FLAG: Readonly<Record<string, string>> = {
  NR: 'route_not_found',
  NC: 'cluster_not_found',
  UH: 'no_healthy_upstream',
  UF: 'upstream_reset_before_response_started{connection_failure}',
  UC: 'upstream_reset_before_response_started{connection_termination}',
  UR: 'upstream_reset_before_response_started{remote_reset}',
  UT: 'upstream_response_timeout',
  UO: 'upstream_reset_before_response_started{overflow}',
  URX: 'upstream_reset_before_response_started{retry_limit_exceeded}',
  DC: 'downstream_remote_disconnect',
  DR: 'direct_response',
  LH: 'health_check_failed',
  SI: 'stream_idle_timeout',
  DPE: 'downstream_protocol_error',
  UPE: 'upstream_reset_before_response_started{protocol_error}',
};

function responseCodeDetails(r: AccessLogRecord): string | undefined {
  if (r.tcp === true) return undefined;
  if (r.responseFlags !== '-' && r.responseFlags !== '') {
    const details = DETAILS_BY_FLAG[r.responseFlags];
    if (details !== undefined) {
      // A more specific form recorded by the router (`{connection_failure,<TLS reason>}`) wins.
      const recorded = r.responseCodeDetails;
      return recorded !== undefined &&
        details.endsWith('}') &&
        recorded.startsWith(details.slice(0, -1))
        ? recorded
        : details;
    }
  }
  if (r.responseCodeDetails !== undefined && r.responseCodeDetails !== '')
    return r.responseCodeDetails;
  if (r.upstreamHost !== '') return 'via_upstream';
  return r.status > 0 ? 'local_reply' : undefined;
}

const ms = (value: number | undefined): number | undefined =>
  value === undefined ? undefined : Math.floor(value);

const remote = (r: AccessLogRecord): string | undefined =>
  address(r.socket?.remoteAddress, r.socket?.remotePort);
const local = (r: AccessLogRecord): string | undefined =>
  address(r.socket?.localAddress, r.socket?.localPort);

/** The reader of one operator occurrence (the parser admits only the operators handled here). */
export function operatorReader(op: OperatorSpec): ValueReader {
  const headerName = op.header ?? '';
  const alt = op.altHeader ?? '';
  switch (op.name) {
    case 'REQ':
      return alt
        ? (r) => requestHeader(r, headerName) ?? requestHeader(r, alt)
        : (r) => requestHeader(r, headerName);
    case 'RESP':
      return alt
        ? (r) => r.responseHeaders?.get(headerName) ?? r.responseHeaders?.get(alt)
        : (r) => r.responseHeaders?.get(headerName);
    case 'START_TIME': {
      const start = (r: AccessLogRecord): number => r.startTimeMs ?? Date.now() - r.durationMs;
      if (op.timeFormat === undefined) return (r) => new Date(start(r)).toISOString();
      const format = compileTimeFormat(op.timeFormat);
      return (r) => format(start(r));
    }
    case 'PROTOCOL':
      return (r) => r.protocol || undefined;
    case 'RESPONSE_CODE':
      return (r) => r.status;
    case 'RESPONSE_FLAGS':
      return (r) => r.responseFlags;
    case 'RESPONSE_CODE_DETAILS':
      return responseCodeDetails;
    case 'BYTES_RECEIVED':
      return (r) => r.bytesReceived ?? 0;
    case 'BYTES_SENT':
      return (r) => r.bytesSent ?? 0;
    case 'DURATION':
      return (r) => Math.floor(r.durationMs);
    case 'REQUEST_DURATION':
      return (r) => ms(r.requestDurationMs);
    case 'RESPONSE_DURATION':
      return (r) => ms(r.responseDurationMs);
    case 'UPSTREAM_HOST':
      return (r) => r.upstreamHost || undefined;
    case 'UPSTREAM_CLUSTER':
      return (r) => r.cluster || undefined;
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON':
      return (r) => r.upstreamTransportFailureReason;
    case 'UPSTREAM_REQUEST_ATTEMPT_COUNT':
      return (r) => r.attempts;
    case 'ROUTE_NAME':
      return (r) => r.route || undefined;
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return remote;
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (r) => r.socket?.remoteAddress;
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return local;
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (r) => r.socket?.localAddress;
    case 'REQUESTED_SERVER_NAME':
      return (r) => {
        if (r.requestedServerName !== undefined) return r.requestedServerName || undefined;
        const name = (r.socket as { servername?: unknown } | undefined)?.servername;
        return typeof name === 'string' && name !== '' ? name : undefined;
      };
    case 'CONNECTION_ID':
      return (r) =>
        r.connectionId ?? (r.socket === undefined ? undefined : connectionIdOf(r.socket));
    case 'HOSTNAME': {
      const hostname = os.hostname();
      return () => hostname;
    }
    case 'TRACE_ID':
      return traceIdOf;
    case 'DYNAMIC_METADATA':
      return dynamicMetadata(op.metadataNamespace ?? '', op.metadataPath ?? []);
    default:
      throw new Error(`unsupported access log operator ${op.name}`);
  }
}
