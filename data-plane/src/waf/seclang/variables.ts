/** The variables the engine provides (ModSecurity v3 names). */

/** Collections: a rule may select a key (`ARGS:id`), a /regex/ of keys, or count them (`&`). */
export const COLLECTIONS: ReadonlySet<string> = new Set([
  'ARGS',
  'ARGS_GET',
  'ARGS_POST',
  'ARGS_NAMES',
  'ARGS_GET_NAMES',
  'ARGS_POST_NAMES',
  'REQUEST_HEADERS',
  'REQUEST_HEADERS_NAMES',
  'REQUEST_COOKIES',
  'REQUEST_COOKIES_NAMES',
  'RESPONSE_HEADERS',
  'RESPONSE_HEADERS_NAMES',
  'FILES',
  'FILES_NAMES',
  'FILES_SIZES',
  'MULTIPART_PART_HEADERS',
  'MATCHED_VARS',
  'MATCHED_VARS_NAMES',
  'TX',
  'IP',
  'GLOBAL',
  'SESSION',
  'USER',
  'RESOURCE',
  'GEO',
  'XML',
  'RULE',
  'ENV',
]);

/** Single-valued variables. */
export const SCALARS: ReadonlySet<string> = new Set([
  'REQUEST_URI',
  'REQUEST_URI_RAW',
  'REQUEST_FILENAME',
  'REQUEST_BASENAME',
  'REQUEST_LINE',
  'REQUEST_METHOD',
  'REQUEST_PROTOCOL',
  'QUERY_STRING',
  'REQUEST_BODY',
  'REQUEST_BODY_LENGTH',
  'REQBODY_ERROR',
  'REQBODY_ERROR_MSG',
  'REQBODY_PROCESSOR',
  'REQBODY_PROCESSOR_ERROR',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'REMOTE_HOST',
  'SERVER_NAME',
  'SERVER_ADDR',
  'SERVER_PORT',
  'UNIQUE_ID',
  'MATCHED_VAR',
  'MATCHED_VAR_NAME',
  'RESPONSE_STATUS',
  'RESPONSE_PROTOCOL',
  'RESPONSE_BODY',
  'RESPONSE_CONTENT_TYPE',
  'RESPONSE_CONTENT_LENGTH',
  'ARGS_COMBINED_SIZE',
  'FILES_COMBINED_SIZE',
  'FULL_REQUEST_LENGTH',
  'MULTIPART_STRICT_ERROR',
  'MULTIPART_UNMATCHED_BOUNDARY',
  'MULTIPART_BOUNDARY_QUOTED',
  'MULTIPART_BOUNDARY_WHITESPACE',
  'MULTIPART_DATA_AFTER',
  'MULTIPART_DATA_BEFORE',
  'MULTIPART_HEADER_FOLDING',
  'MULTIPART_LF_LINE',
  'MULTIPART_MISSING_SEMICOLON',
  'MULTIPART_INVALID_QUOTING',
  'MULTIPART_INVALID_PART',
  'MULTIPART_INVALID_HEADER_FOLDING',
  'MULTIPART_FILE_LIMIT_EXCEEDED',
  'MULTIPART_CRLF_LF_LINES',
  'MULTIPART_FILENAME',
  'MULTIPART_NAME',
  'DURATION',
  'TIME',
  'TIME_EPOCH',
  'HIGHEST_SEVERITY',
  'INBOUND_DATA_ERROR',
  'OUTBOUND_DATA_ERROR',
  'STATUS_LINE',
]);

/**
 * The single-valued variables a transaction works out when a rule reads them instead of holding
 * a value set from the request or response.
 */
const COMPUTED_SCALARS: ReadonlySet<string> = new Set([
  'MATCHED_VAR',
  'MATCHED_VAR_NAME',
  'ARGS_COMBINED_SIZE',
  'DURATION',
  'HIGHEST_SEVERITY',
]);

/**
 * The single-valued variables a transaction holds, in slot order (Target.scalar): a rule reads
 * one by index instead of by name.
 */
export const HELD_SCALARS: readonly string[] = [...SCALARS].filter((v) => !COMPUTED_SCALARS.has(v));

/** Each of HELD_SCALARS' slot. */
export const HELD_SCALAR_SLOT: ReadonlyMap<string, number> = new Map(
  HELD_SCALARS.map((name, slot) => [name, slot]),
);

/** Persistent collections (initcol): kept across requests, per worker. */
export const PERSISTENT: ReadonlySet<string> = new Set([
  'IP',
  'GLOBAL',
  'SESSION',
  'USER',
  'RESOURCE',
]);

/**
 * The XPath selectors of XML the engine evaluates, the two CRS uses: `/*` (the root element's
 * text content) and `//@*` (every attribute value). An error message for any other selector.
 */
export function xmlSelectorError(selector: string | undefined): string | undefined {
  let s = selector ?? '';
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) s = s.slice(1, -1);
  if (s === '/*' || s === '//@*') return undefined;
  return s === ''
    ? 'XML without an XPath selector is not supported (use XML:/* or XML://@*)'
    : `the XPath selector XML:${s} is not supported (only XML:/* and XML://@*)`;
}
