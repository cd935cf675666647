/** Display helpers shared by the views. */

/** "12 s ago", "3 min ago", ... from an ISO time; "" for none. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** "2026-12-07 01:22:03" in UTC, for times a reader compares. */
export function utc(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace('T', ' ').slice(0, 19);
}

/** The proxy's kind and version from its user agent ("ferry-proxy/0.1.0"). */
export function proxyKind(userAgent: string): string {
  return userAgent === '' ? '—' : userAgent;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
