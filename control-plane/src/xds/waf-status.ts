/**
 * Which proxies run ferry.filters.http.waf, with which rule set and mode (`GET /v1/waf`,
 * `ferryctl waf`): derived, per node this replica serves, from the listeners and route
 * configurations the node runs (the copies of its last applied response; a resource it rejected
 * alone runs an earlier copy this control plane no longer holds and is left out). Per WAF
 * filter in a listener's HTTP connection managers: the mode, the rule set (a hash of the
 * directives as configured: equal directives, equal hash), whether they include the proxy host's
 * CRS install (`@crs/`), and the routes that override it with WafPerRoute.
 */
import { createHash } from 'node:crypto';
import { parseResourceBinary } from '@ferry/proto';
import type { CachedResource } from './snapshot-types.js';
import type { FleetNodeView } from './fleet.js';
import type {
  WafFilterStatusJson,
  WafRouteOverrideJson,
  WafStatusJson,
} from '@ferry/shared/api-wire';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const HCM_SUFFIX = '.HttpConnectionManager';
const WAF_TYPE = 'type.googleapis.com/ferry.v1.Waf';
const WAF_PER_ROUTE_TYPE = 'type.googleapis.com/ferry.v1.WafPerRoute';
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

type Json = Record<string, unknown>;

const asObj = (v: unknown): Json | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asStr = (v: unknown): string => (typeof v === 'string' ? v : '');

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function directivesOf(config: Json): string {
  return asArr(config.directives).map(asStr).join('\n');
}

/** The config's mode, else the last SecRuleEngine of the directives (On when none). */
function modeOf(config: Json): string {
  const mode = asStr(config.mode);
  if (mode !== '' && mode !== 'MODE_UNSPECIFIED') return mode;
  const engines = [...directivesOf(config).matchAll(/^\s*SecRuleEngine\s+(\w+)/gim)];
  const last = engines.at(-1)?.[1]?.toLowerCase();
  return last === 'detectiononly' ? 'DETECTION_ONLY' : last === 'off' ? 'OFF' : 'ON';
}

/** The JSON of the resources of `typeUrl` the node runs, by name. */
function running(view: FleetNodeView, typeUrl: string): Map<string, Json> {
  const out = new Map<string, Json>();
  const t = view.types.get(typeUrl);
  if (t?.snapshotApplied === undefined || t.versionApplied === '') return out;
  for (const [name, value] of t.snapshotApplied) {
    if (t.rejected?.has(name) === true) continue;
    const cached = value as CachedResource;
    const parsed = parseResourceBinary(typeUrl, cached.resource.value);
    if (parsed.ok) out.set(name, parsed.value.json);
  }
  return out;
}

/** The WafPerRoute message of a typed_per_filter_config entry (direct or in a FilterConfig). */
function perRouteMessage(entry: Json | undefined): { disabled: boolean; msg?: Json } | undefined {
  if (entry === undefined) return undefined;
  const type = asStr(entry['@type']);
  if (type === WAF_PER_ROUTE_TYPE) return { disabled: entry.disabled === true, msg: entry };
  if (type !== FILTER_CONFIG_TYPE) return undefined;
  if (entry.disabled === true) return { disabled: true };
  const inner = asObj(entry.config);
  return asStr(inner?.['@type']) === WAF_PER_ROUTE_TYPE
    ? { disabled: inner!.disabled === true, msg: inner! }
    : undefined;
}

function overrides(
  routeConfigName: string,
  routeConfig: Json,
  filterName: string,
  base: string,
): WafRouteOverrideJson[] {
  const out: WafRouteOverrideJson[] = [];
  const visit = (level: Json, path: string): void => {
    const found = perRouteMessage(asObj(asObj(level.typed_per_filter_config)?.[filterName]));
    if (found === undefined) return;
    const extra = found.msg === undefined ? '' : directivesOf(found.msg);
    const mode = found.msg === undefined ? '' : asStr(found.msg.mode);
    out.push({
      route_config: routeConfigName,
      path,
      disabled: found.disabled,
      ...(mode !== '' && mode !== 'MODE_UNSPECIFIED' ? { mode } : {}),
      ...(extra.trim() !== '' ? { rule_set: hash(`${base}\n${extra}`) } : {}),
    });
  };
  visit(routeConfig, '');
  asArr(routeConfig.virtual_hosts).forEach((vh, v) => {
    const vhObj = asObj(vh) ?? {};
    visit(vhObj, `virtual_hosts[${v}]`);
    asArr(vhObj.routes).forEach((route, r) => {
      const routeObj = asObj(route) ?? {};
      const routePath = `virtual_hosts[${v}].routes[${r}]`;
      visit(routeObj, routePath);
      asArr(asObj(asObj(routeObj.route)?.weighted_clusters)?.clusters).forEach((wc, w) =>
        visit(asObj(wc) ?? {}, `${routePath}.route.weighted_clusters.clusters[${w}]`),
      );
    });
  });
  return out;
}

/** The WAF filters of one node's running listeners. */
function nodeFilters(view: FleetNodeView): WafFilterStatusJson[] {
  const out: WafFilterStatusJson[] = [];
  const routeConfigs = running(view, RDS);
  for (const [name, listener] of running(view, LDS)) {
    const chains = [...asArr(listener.filter_chains), listener.default_filter_chain];
    for (const chain of chains) {
      for (const filter of asArr(asObj(chain)?.filters)) {
        const hcm = asObj(asObj(filter)?.typed_config);
        if (hcm === undefined || !asStr(hcm['@type']).endsWith(HCM_SUFFIX)) continue;
        const rdsName = asStr(asObj(hcm.rds)?.route_config_name);
        const inline = asObj(hcm.route_config);
        const routeConfig = inline ?? routeConfigs.get(rdsName);
        const routeConfigName = inline !== undefined ? asStr(inline.name) : rdsName;
        for (const httpFilter of asArr(hcm.http_filters)) {
          const f = asObj(httpFilter) ?? {};
          const config = asObj(f.typed_config);
          if (config === undefined || asStr(config['@type']) !== WAF_TYPE) continue;
          const directives = directivesOf(config);
          out.push({
            node_id: view.node.id,
            group: view.group,
            connected: view.connected,
            listener: name,
            filter: asStr(f.name),
            mode: modeOf(config),
            rule_set: hash(directives),
            crs: /^\s*Include\s+@crs\//im.test(directives),
            routes_overriding:
              routeConfig === undefined
                ? []
                : overrides(routeConfigName, routeConfig, asStr(f.name), directives),
          });
        }
      }
    }
  }
  return out;
}

/** Every WAF filter the nodes run, of the groups `readable` allows (and `group` when given). */
export function wafStatus(
  views: readonly FleetNodeView[],
  readable: (group: string) => boolean,
  group?: string,
): WafStatusJson {
  const filters = views
    .filter((v) => readable(v.group) && (group === undefined || v.group === group))
    .flatMap(nodeFilters);
  filters.sort(
    (a, b) =>
      a.node_id.localeCompare(b.node_id) ||
      a.listener.localeCompare(b.listener) ||
      a.filter.localeCompare(b.filter),
  );
  return { filters };
}
