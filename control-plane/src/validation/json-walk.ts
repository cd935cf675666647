/**
 * Helpers for reading normalised proto3 JSON (`ParsedResource.json`: snake_case field names,
 * Anys as `{"@type": ..., fields}`) and for building the field paths errors are prefixed with.
 */
import type { JsonValue } from '@ferry/proto';

export type JsonObject = { [key: string]: JsonValue };

export const HCM_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function asObject(value: JsonValue | undefined): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

export function asArray(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** `a.b` / `a[2]` path joining; an empty base yields the bare key. */
export function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/** `label.path: message`, or `label: message` when the problem is the whole resource. */
export function at(label: string, path: string, message: string): string {
  if (!label) return `${path}: ${message}`;
  return path ? `${label}.${path}: ${message}` : `${label}: ${message}`;
}

/**
 * Visits every object in a document, depth first, with its path and the key it sits under
 * (`parentKey` is the array's key for array elements).
 */
export function walkObjects(
  value: JsonValue | undefined,
  path: string,
  visit: (obj: JsonObject, path: string, parentKey: string) => void,
  parentKey = '',
): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => walkObjects(item, join(path, i), visit, parentKey));
    return;
  }
  const obj = asObject(value);
  if (!obj) return;
  visit(obj, path, parentKey);
  for (const [key, child] of Object.entries(obj)) {
    if (typeof child === 'object' && child !== null)
      walkObjects(child, join(path, key), visit, key);
  }
}

/** A ConfigSource read from the proxy's file system names nothing Ferry stores. */
export function isFileConfigSource(source: JsonValue | undefined): boolean {
  const obj = asObject(source);
  return obj !== undefined && (obj.path !== undefined || obj.path_config_source !== undefined);
}

/** The network filters of a Listener (every filter chain and the default one) with their paths. */
export function forEachNetworkFilter(
  listener: JsonObject,
  visit: (typedConfig: JsonObject, typeUrl: string, path: string) => void,
): void {
  const chains: Array<[JsonValue | undefined, string]> = asArray(listener.filter_chains).map(
    (c, i) => [c, join('filter_chains', i)],
  );
  if (listener.default_filter_chain)
    chains.push([listener.default_filter_chain, 'default_filter_chain']);
  for (const [chain, chainPath] of chains) {
    asArray(asObject(chain)?.filters).forEach((filter, j) => {
      const typed = asObject(asObject(filter)?.typed_config);
      const typeUrl = asString(typed?.['@type']);
      if (typed && typeUrl)
        visit(typed, typeUrl, join(join(chainPath, 'filters'), j) + '.typed_config');
    });
  }
}

/** Route configurations a resource carries: itself, or HCMs' inline `route_config`. */
export function forEachRouteConfig(
  kind: string,
  json: JsonObject,
  visit: (routeConfig: JsonObject, path: string) => void,
): void {
  if (kind === 'RouteConfiguration') visit(json, '');
  if (kind !== 'Listener') return;
  forEachNetworkFilter(json, (typed, typeUrl, path) => {
    const inline = asObject(typed.route_config);
    if (typeUrl === HCM_TYPE_URL && inline) visit(inline, join(path, 'route_config'));
  });
}
