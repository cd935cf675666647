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
  if (value === undefined) return undefined;
  const length = value.length;
  if (length === 0 || length > 15) return slowDecimal(value);
  // The usual case (a Content-Length as llhttp leaves it): digits only, read without a regex.
  let n = 0;
  for (let i = 0; i < length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return slowDecimal(value);
    n = n * 10 + digit;
  }
  return n;
}

function slowDecimal(value: string): number | undefined {
  const trimmed = value.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

/** Envoy's transfer/content codings that mean "already compressed". */
const COMPRESSION_CODINGS = new Set(['gzip', 'br', 'deflate', 'compress', 'zstd']);

/** Whether Transfer-Encoding names a compression (the body is then left alone). */
export function transferEncodingCompressed(value: string | undefined, own: string): boolean {
  return tokens(value).some((t) => COMPRESSION_CODINGS.has(t) || t === own);
}
