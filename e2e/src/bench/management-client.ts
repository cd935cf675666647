/**
 * The two management-API calls the benchmark makes: apply a batch of resources, and read the
 * control plane's xDS counters when it exposes Prometheus text (probed, since not every build
 * serves them).
 */

export interface ApplyResult {
  readonly status: number;
  readonly body: string;
}

/** `POST {apiUrl}/v1/apply`; throws with the response body unless it is 2xx. */
export async function applyResources(
  apiUrl: string,
  group: string,
  resources: readonly unknown[],
): Promise<ApplyResult> {
  const response = await fetch(`${apiUrl}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ group, resources }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.text();
  if (!response.ok)
    throw new Error(`apply failed: HTTP ${response.status}: ${body.slice(0, 2000)}`);
  return { status: response.status, body };
}

/** Metric name → value summed over label sets, from Prometheus text exposition. */
export function parsePrometheusText(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    totals.set(match[1]!, (totals.get(match[1]!) ?? 0) + value);
  }
  return totals;
}

/** Endpoints probed for counters, in order. */
const METRICS_PATHS = ['/metrics', '/v1/metrics', '/v1/stats'];

export interface XdsCounters {
  readonly path: string;
  /** Every `*xds*` metric, summed over labels. */
  readonly values: ReadonlyMap<string, number>;
}

/** The control plane's xDS counters, or undefined when no probed path serves Prometheus text. */
export async function readXdsCounters(apiUrl: string): Promise<XdsCounters | undefined> {
  for (const path of METRICS_PATHS) {
    let text: string;
    try {
      const response = await fetch(`${apiUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) continue;
      text = await response.text();
    } catch {
      continue;
    }
    const values = new Map([...parsePrometheusText(text)].filter(([name]) => name.includes('xds')));
    if (values.size > 0) return { path, values };
  }
  return undefined;
}
