/**
 * %START_TIME(FORMAT)%: Envoy's strftime-like time formats, compiled once per config into a
 * function of the start time. Times are UTC (Envoy formats START_TIME in UTC; %z is +0000).
 * Supported: %Y %m %d %H %M %S %y %j %e %T %F %D %R %z %Z %s %b %a %p %%, and Envoy's
 * sub-second %1f..%9f (%f = %9f). Anything else is reported by checkTimeFormat.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

type TimePart = string | ((d: Date, ms: number) => string);

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

const DIRECTIVES: Record<string, (d: Date, ms: number) => string> = {
  Y: (d) => String(d.getUTCFullYear()),
  y: (d) => pad(d.getUTCFullYear() % 100),
  m: (d) => pad(d.getUTCMonth() + 1),
  d: (d) => pad(d.getUTCDate()),
  e: (d) => String(d.getUTCDate()).padStart(2, ' '),
  j: (d) => pad(dayOfYear(d), 3),
  H: (d) => pad(d.getUTCHours()),
  M: (d) => pad(d.getUTCMinutes()),
  S: (d) => pad(d.getUTCSeconds()),
  T: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  R: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`,
  F: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  D: (d) => `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)}`,
  z: () => '+0000',
  Z: () => 'UTC',
  s: (_d, ms) => String(Math.floor(ms / 1000)),
  b: (d) => MONTHS[d.getUTCMonth()]!,
  a: (d) => DAYS[d.getUTCDay()]!,
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  '%': () => '%',
};

/** Sub-second digits: ms precision, zero-filled beyond it (the clock has no more). */
function fraction(digits: number): (d: Date, ms: number) => string {
  return (_d, ms) => {
    const millis = pad(Math.floor(ms) % 1000, 3);
    return digits <= 3 ? millis.slice(0, digits) : millis.padEnd(digits, '0');
  };
}

function parts(format: string): TimePart[] | string {
  const out: TimePart[] = [];
  let text = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      text += c;
      continue;
    }
    let next = format[i + 1];
    let digits = 9;
    if (next !== undefined && next >= '1' && next <= '9' && format[i + 2] === 'f') {
      digits = Number(next);
      next = 'f';
      i++;
    }
    if (next === undefined) return `time format "${format}": ends with %`;
    const directive = next === 'f' ? fraction(digits) : DIRECTIVES[next];
    if (directive === undefined)
      return `time format "${format}": %${next} is not supported by ferry-proxy`;
    i++;
    if (text) out.push(text);
    text = '';
    out.push(directive);
  }
  if (text) out.push(text);
  return out;
}

/** An error message, or undefined when the format is supported. */
export function checkTimeFormat(format: string): string | undefined {
  const result = parts(format);
  return typeof result === 'string' ? result : undefined;
}

/** Compiles a checked format; the function formats a time in ms since the epoch. */
export function compileTimeFormat(format: string): (ms: number) => string {
  const result = parts(format);
  if (typeof result === 'string') throw new Error(result);
  return (ms) => {
    const d = new Date(ms);
    let out = '';
    for (let i = 0; i < result.length; i++) {
      const p = result[i]!;
      out += typeof p === 'string' ? p : p(d, ms);
    }
    return out;
  };
}
