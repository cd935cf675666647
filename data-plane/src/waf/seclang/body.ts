/**
 * Request body processors (ModSecurity's URLENCODED, JSON and MULTIPART) on latin1 strings.
 * They fill argument lists and report a parse error instead of throwing.
 */

export interface Arg {
  readonly name: string;
  readonly value: string;
}

export interface MultipartResult {
  readonly args: Arg[];
  /** FILES: field name -> file name. */
  readonly files: Arg[];
  readonly fileSizes: Arg[];
  /** MULTIPART_PART_HEADERS: field name -> one header line. */
  readonly partHeaders: Arg[];
  readonly error: string | undefined;
}

/** `a=1&b=2` (names and values url-decoded, `+` is a space), at most `limit` pairs. */
export function parseUrlEncoded(text: string, out: Arg[], limit: number): boolean {
  if (text === '') return true;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    if (out.length >= limit) return false;
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    out.push({ name: formDecode(name), value: formDecode(value) });
  }
  return true;
}

function formDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '+') out += ' ';
    else if (c === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += c;
  }
  return out;
}

/** Percent-decoding only (`+` stays), as ModSecurity decodes REQUEST_URI. */
export function uriDecode(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Re-encodes code points above 0xff (from \u escapes) as UTF-8 bytes. */
function toBytes(s: string): string {
  for (let i = 0; i < s.length; i++)
    if (s.charCodeAt(i) > 0xff) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
}

/**
 * JSON with ModSecurity v3's argument names: `json.a.b` for object members and
 * `json.list.array_0` for array elements; returns an error message or undefined. An empty body
 * is no error (ModSecurity reports none for zero bytes); one of only white space is.
 */
export function parseJson(text: string, out: Arg[], limit: number): string | undefined {
  if (text === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `JSON parsing error: ${(err as Error).message}`;
  }
  let full = false;
  const walk = (value: unknown, name: string): void => {
    if (full) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${name}.array_${i}`));
      return;
    }
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>))
        walk(v, `${name}.${toBytes(k)}`);
      return;
    }
    if (out.length >= limit) {
      full = true;
      return;
    }
    out.push({
      name,
      value: value === null ? '' : toBytes(`${value as string | number | boolean}`),
    });
  };
  walk(doc, 'json');
  return full ? 'too many arguments' : undefined;
}

function headerParam(header: string, param: string): string | undefined {
  const re = new RegExp(`;\\s*${param}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i');
  const m = re.exec(header);
  if (m === null) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

export function multipartBoundary(contentType: string): string | undefined {
  const b = headerParam(contentType, 'boundary');
  return b === undefined || b === '' ? undefined : b;
}

/**
 * multipart/form-data with the given boundary. An empty body has no parts and no error (as
 * ModSecurity's parser, which only misses the final boundary once it has seen data).
 */
export function parseMultipart(text: string, boundary: string, limit: number): MultipartResult {
  const result: MultipartResult = {
    args: [],
    files: [],
    fileSizes: [],
    partHeaders: [],
    error: undefined,
  };
  if (text === '') return result;
  const delimiter = `--${boundary}`;
  const first = text.indexOf(delimiter);
  if (first < 0) return { ...result, error: 'multipart: no boundary found' };
  let pos = first + delimiter.length;
  let error: string | undefined;
  for (;;) {
    if (text.startsWith('--', pos)) break;
    // Skip the line break after the delimiter.
    if (text.startsWith('\r\n', pos)) pos += 2;
    else if (text[pos] === '\n') pos += 1;
    else {
      error = 'multipart: malformed delimiter line';
      break;
    }
    const next = text.indexOf(`\n${delimiter}`, pos);
    if (next < 0) {
      error = 'multipart: final boundary missing';
      break;
    }
    let part = text.slice(pos, next);
    if (part.endsWith('\r')) part = part.slice(0, -1);
    pos = next + 1 + delimiter.length;
    const split = /\r?\n\r?\n/.exec(part);
    if (split === null) {
      error = 'multipart: part without headers';
      break;
    }
    const headers = part.slice(0, split.index).split(/\r?\n/);
    const body = part.slice(split.index + split[0].length);
    let name: string | undefined;
    let filename: string | undefined;
    for (const h of headers) {
      const colon = h.indexOf(':');
      if (colon < 0) continue;
      if (/^content-disposition$/i.test(h.slice(0, colon).trim())) {
        const v = h.slice(colon + 1);
        name = headerParam(';' + v.replace(/^\s*form-data\s*;?/i, ''), 'name');
        filename = headerParam(';' + v.replace(/^\s*form-data\s*;?/i, ''), 'filename');
      }
    }
    if (name === undefined) {
      error = 'multipart: part without a name';
      continue;
    }
    for (const h of headers) result.partHeaders.push({ name, value: h });
    if (result.args.length + result.files.length >= limit) {
      error = 'too many arguments';
      break;
    }
    if (filename !== undefined) {
      result.files.push({ name, value: filename });
      result.fileSizes.push({ name, value: String(body.length) });
    } else result.args.push({ name, value: body });
  }
  return { ...result, error };
}
