/**
 * JSON values as YAML 1.2 block style, for reading resources. Strings that YAML would read as
 * something else (numbers, booleans, null, leading indicators, ": " inside) are double-quoted.
 */
export function toYaml(value: unknown): string {
  return emit(value, 0).replace(/^\n/, '') + '\n';
}

function emit(value: unknown, indent: number): string {
  const pad = '  '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return ' []';
    return value
      .map((item) => {
        const inner = emit(item, indent + 1);
        return inner.startsWith('\n')
          ? `\n${pad}-${inner.replace(/^\n\s*/, ' ')}`
          : `\n${pad}-${inner}`;
      })
      .join('');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return ' {}';
    return entries.map(([k, v]) => `\n${pad}${scalar(k)}:${emit(v, indent + 1)}`).join('');
  }
  return ` ${scalar(value)}`;
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  const plain =
    s !== '' &&
    !/^[\s\-?:,[\]{}#&*!|>'"%@`]/.test(s) &&
    !/[\s]$/.test(s) &&
    !/: |\s#|[\n\t]/.test(s) &&
    !/^(true|false|null|yes|no|on|off|~|[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.inf|\.nan)$/i.test(
      s,
    );
  return plain ? s : JSON.stringify(s);
}
