/** Parsing of the comma-separated header values the compression and CORS filters read. */

/** Lower-cased, trimmed, non-empty comma-separated tokens of a header value. */
export function tokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '') out.push(token);
  }
  return out;
}

/** Whether a comma-separated header value lists `token` (case-insensitive, trimmed). */
export function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && tokens(value).includes(token);
}

/** A media type without its parameters, lower-cased (`Text/HTML; charset=x` → `text/html`). */
export function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semicolon = contentType.indexOf(';');
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** A whole decimal number (Content-Length): digits only; undefined otherwise. */
export function decimal(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** Envoy's transfer/content codings that mean "already compressed". */
const COMPRESSION_CODINGS = new Set(['gzip', 'br', 'deflate', 'compress', 'zstd']);

/** Whether Transfer-Encoding names a compression (the body is then left alone). */
export function transferEncodingCompressed(value: string | undefined, own: string): boolean {
  return tokens(value).some((t) => COMPRESSION_CODINGS.has(t) || t === own);
}
