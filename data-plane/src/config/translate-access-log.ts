/**
 * HttpConnectionManager `access_log` → AccessLogModel[]. Supported loggers:
 * envoy.access_loggers.stdout (StdoutAccessLog) and envoy.access_loggers.file (FileAccessLog),
 * each with an optional `log_format` (text_format, text_format_source, json_format); without
 * one, Envoy's default format. Every command operator is checked here (the primary) so an
 * unsupported one is a NACK with its path, never a worker error; access_log `filter` is not
 * supported (a NACK too, since dropping it would log what the operator asked not to).
 */
import {
  ENVOY_DEFAULT_FORMAT,
  SUPPORTED_OPERATORS,
  checkJsonFormat,
  parseFormat,
} from '../access-log/access-log-format.js';
import {
  NOT_SUPPORTED,
  TYPE_URL_PREFIX,
  asObject,
  checkFields,
  dataSource,
  join,
  messageSpec,
  objectsOf,
  str,
  type ExtensionSpec,
  type Issues,
  type JsonObject,
  type MessageSpec,
} from './translate-common.js';
import type { AccessLogModel } from './model.js';

const ACCESS_LOG_SPEC = messageSpec('envoy.config.accesslog.v3.AccessLog', {
  name: 'label (e.g. envoy.access_loggers.file)',
  typed_config: 'StdoutAccessLog or FileAccessLog',
});

const STDOUT_SPEC = messageSpec('envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', {
  log_format: `format (default: Envoy's default format)`,
});

const FILE_SPEC = messageSpec('envoy.extensions.access_loggers.file.v3.FileAccessLog', {
  path: 'file appended to (every worker appends whole lines)',
  log_format: `format (default: Envoy's default format)`,
});

const FORMAT_SPEC = messageSpec('envoy.config.core.v3.SubstitutionFormatString', {
  text_format: 'text format string',
  text_format_source: 'text format from a DataSource (inline_string, filename, ...)',
  json_format: 'one JSON object per line; single-operator values keep their type',
  omit_empty_values: 'missing values are "" in text and left out of JSON (default "-" / null)',
});

export const STDOUT_ACCESS_LOG_TYPE_URL = TYPE_URL_PREFIX + STDOUT_SPEC.message;
export const FILE_ACCESS_LOG_TYPE_URL = TYPE_URL_PREFIX + FILE_SPEC.message;

export const ACCESS_LOG_SPECS: readonly MessageSpec[] = [
  ACCESS_LOG_SPEC,
  STDOUT_SPEC,
  FILE_SPEC,
  FORMAT_SPEC,
];

const OPERATORS_NOTE = `command operators: ${SUPPORTED_OPERATORS.join(', ')}`;

export const ACCESS_LOG_EXTENSIONS: readonly ExtensionSpec[] = [
  {
    where: 'HttpConnectionManager and TcpProxy access_log[]',
    typeUrl: STDOUT_ACCESS_LOG_TYPE_URL,
    names: ['envoy.access_loggers.stdout'],
    note: `buffered writes to stdout; ${OPERATORS_NOTE}`,
  },
  {
    where: 'HttpConnectionManager and TcpProxy access_log[]',
    typeUrl: FILE_ACCESS_LOG_TYPE_URL,
    names: ['envoy.access_loggers.file'],
    note: `buffered appends to the file; ${OPERATORS_NOTE}`,
  },
];

export function translateAccessLogs(
  hcm: JsonObject,
  path: string,
  issues: Issues,
): AccessLogModel[] {
  return objectsOf(hcm, 'access_log', path).flatMap(([entry, entryPath]) => {
    const model = accessLog(entry, entryPath, issues);
    return model ? [model] : [];
  });
}

function accessLog(entry: JsonObject, path: string, issues: Issues): AccessLogModel | undefined {
  checkFields(entry, ACCESS_LOG_SPEC, path, issues, {
    filter: `${NOT_SUPPORTED} (every request is logged)`,
  });
  const name = str(entry.name);
  const typed = asObject(entry.typed_config);
  const typedPath = join(path, 'typed_config');
  if (!typed) {
    issues.add(typedPath, 'required (StdoutAccessLog or FileAccessLog)');
    return undefined;
  }
  const typeUrl = str(typed['@type']);
  if (typeUrl === STDOUT_ACCESS_LOG_TYPE_URL) {
    checkFields(typed, STDOUT_SPEC, typedPath, issues);
    return { name, sink: 'stdout', ...logFormat(typed, typedPath, issues) };
  }
  if (typeUrl === FILE_ACCESS_LOG_TYPE_URL) {
    checkFields(typed, FILE_SPEC, typedPath, issues, {
      format: `${NOT_SUPPORTED} (deprecated: use log_format)`,
      json_format: `${NOT_SUPPORTED} (deprecated: use log_format)`,
      typed_json_format: `${NOT_SUPPORTED} (deprecated: use log_format)`,
    });
    const filePath = str(typed.path);
    if (!filePath) issues.add(join(typedPath, 'path'), 'required');
    return { name, sink: 'file', path: filePath, ...logFormat(typed, typedPath, issues) };
  }
  issues.add(
    typedPath,
    `access logger ${typeUrl.slice(typeUrl.lastIndexOf('.') + 1)} is ${NOT_SUPPORTED} (StdoutAccessLog, FileAccessLog)`,
  );
  return undefined;
}

function logFormat(
  typed: JsonObject,
  path: string,
  issues: Issues,
): Pick<AccessLogModel, 'textFormat' | 'jsonFormat' | 'omitEmptyValues'> {
  const format = asObject(typed.log_format);
  if (!format) return { textFormat: ENVOY_DEFAULT_FORMAT };
  const formatPath = join(path, 'log_format');
  checkFields(format, FORMAT_SPEC, formatPath, issues);
  const omit = format.omit_empty_values === true ? { omitEmptyValues: true } : {};
  const json = asObject(format.json_format);
  if (json) {
    for (const error of checkJsonFormat(json, join(formatPath, 'json_format')))
      issues.add('', error);
    return { jsonFormat: json, ...omit };
  }
  const source = asObject(format.text_format_source);
  const textPath = source
    ? join(formatPath, 'text_format_source')
    : join(formatPath, 'text_format');
  const text = source ? dataSource(source, textPath, issues) : str(format.text_format);
  if (text === undefined || text === '') return { textFormat: ENVOY_DEFAULT_FORMAT, ...omit };
  const parsed = parseFormat(text);
  if (!parsed.ok) for (const error of parsed.errors) issues.add(textPath, error);
  return { textFormat: text, ...omit };
}
