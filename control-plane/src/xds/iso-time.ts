/**
 * ISO 8601 text of an epoch-ms time, as `Date.prototype.toISOString` writes it. Status rows are
 * built for a whole fleet at a time (node events after a push, GET /v1/status), and their times
 * fall within a few seconds of each other: the date and time of day are formatted once per
 * second and only the milliseconds per call, where `toISOString` takes V8's slow date path on
 * every call.
 */
let second = Number.NaN;
let prefix = '';

export function isoTime(ms: number): string {
  // Fractional and invalid times take the general path (an invalid one throws, as toISOString does).
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    const text = new Date(s * 1000).toISOString();
    // Everything up to the milliseconds: "YYYY-MM-DDTHH:MM:SS." (or an extended year's form).
    prefix = text.slice(0, text.length - 4);
    second = s;
  }
  const millis = ms - s * 1000;
  return `${prefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}
